//! Indicator values and observed values: URLs, domains, IP addresses and networks, hashes and
//! certificate thumbprints.

use super::{refused, text};
use crate::{Checker, Target, Verdict};
use iocd_engine::{Observable, ObservableKind};
use iocd_model::{CanonicalUrl, DomainName, IndicatorType, IndicatorValue};

pub(super) const URL: Target = Target {
    name: "url",
    about: "CanonicalUrl::parse: no panic, refusals with a reason, canonical forms that are fixed points with consistent parts",
    seeds: &[
        b"http://evil.example/a/b?c=d",
        b"HTTPS://Evil.Example:443/%7Euser/./x/../y?#frag",
        b"http://[2001:DB8::1]:8080/",
        b"https://user:pass@xn--bcher-kva.example/\xc3\xa9t\xc3\xa9",
        b"http://203.0.113.5/path%2Fwith%2fslashes/",
        b"evil.example/no-scheme",
        b"https://a.b.c.example.:8443//double//slashes?x=1&&y",
    ],
    dictionary: &[
        "http://",
        "https://",
        "ftp://",
        "//",
        "/",
        "?",
        "#",
        "@",
        ":",
        "%",
        "%2F",
        "%25",
        "%00",
        "%zz",
        ".",
        "..",
        "/./",
        "/../",
        "[",
        "]",
        "::",
        "xn--",
        "localhost",
        "0x7f.1",
        "\\",
        ":80",
        ":443",
        ":65536",
        ":0",
        "&",
        "=",
        "+",
        " ",
    ],
    max_len: 512,
    grammar: None,
    make: make_url,
};

fn make_url() -> Checker {
    Box::new(|input: &[u8]| {
        let raw = text(input);
        let url = match CanonicalUrl::parse(&raw) {
            Ok(url) => url,
            Err(error) => return refused(&error.to_string(), "a URL"),
        };
        let canonical = url.as_str();
        if !(canonical.starts_with("http://") || canonical.starts_with("https://")) {
            return Err(format!(
                "canonical form {canonical:?} has no http(s) scheme"
            ));
        }
        if !url.path().starts_with('/') {
            return Err(format!("path {:?} does not start with /", url.path()));
        }
        if !url.match_key().starts_with(url.key_without_query()) {
            return Err(format!(
                "match key {:?} does not start with its path part",
                url.match_key()
            ));
        }
        if !canonical.contains(url.host()) {
            return Err(format!("host {:?} is not in {canonical:?}", url.host()));
        }
        match CanonicalUrl::parse(canonical) {
            Ok(again) if again == url => Ok(Verdict::Accepted),
            Ok(again) => Err(format!(
                "{canonical:?} canonicalises to {:?} (match key {:?} then {:?})",
                again.as_str(),
                url.match_key(),
                again.match_key()
            )),
            Err(error) => Err(format!("canonical form {canonical:?} is refused: {error}")),
        }
    })
}

pub(super) const INDICATOR_VALUES: Target = Target {
    name: "indicator-values",
    about: "IndicatorValue::parse for every type, strict and extended: no panic, refusals with a message, normal forms that parse to themselves, strict a subset of extended, domains read the same way the matcher reads observed host names",
    seeds: &[
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        b"da39a3ee5e6b4b0d3255bfef95601890afd80709",
        b"d41d8cd98f00b204e9800998ecf8427e",
        b"A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:12:34:56:78",
        b"203.0.113.7",
        b"198.51.100.0/24",
        b"2001:db8::/32",
        b"::ffff:192.0.2.1",
        b"B\xc3\xbccher.Example.",
        b"sub.evil.example",
        b"http://evil.example/x",
    ],
    dictionary: &[
        ".", ":", "::", "/", "/0", "/8", "/32", "/33", "/128", "-", "xn--", "..", "ffff", "0x",
        "00", "255", "256", "1.2.3.4", " ", "_", "*", "%",
    ],
    max_len: 300,
    grammar: None,
    make: make_values,
};

const TYPES: [IndicatorType; 7] = [
    IndicatorType::FileSha1,
    IndicatorType::FileSha256,
    IndicatorType::FileMd5,
    IndicatorType::CertificateThumbprint,
    IndicatorType::IpAddress,
    IndicatorType::DomainName,
    IndicatorType::Url,
];

fn make_values() -> Checker {
    Box::new(|input: &[u8]| {
        let raw = text(input);
        let mut accepted = false;
        for indicator_type in TYPES {
            let extended = IndicatorValue::parse(indicator_type, &raw, true);
            let strict = IndicatorValue::parse(indicator_type, &raw, false);
            for result in [&extended, &strict] {
                if let Err(error) = result {
                    refused(&error.message, "an indicator value")?;
                }
            }
            if let Ok(strict_value) = &strict {
                match &extended {
                    Ok(value) if value == strict_value => {}
                    other => {
                        return Err(format!(
                            "{indicator_type} {raw:?}: strict gives {strict_value:?}, extended {other:?}"
                        ));
                    }
                }
            }
            let Ok(value) = extended else { continue };
            accepted = true;
            let normal = value.to_string();
            match IndicatorValue::parse(indicator_type, &normal, true) {
                Ok(again) if again == value => {}
                other => {
                    return Err(format!(
                        "{indicator_type} {raw:?} normalises to {normal:?}, which parses to {other:?}"
                    ));
                }
            }
        }
        if let Ok(domain) = DomainName::parse(raw.trim()) {
            match Observable::parse(ObservableKind::DomainName, &raw) {
                Ok(Observable::Domain(seen)) if seen == domain.as_str() => {}
                other => {
                    return Err(format!(
                        "domain indicator {raw:?} is {:?} but the same text observed is {other:?}",
                        domain.as_str()
                    ));
                }
            }
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}

pub(super) const OBSERVABLES: Target = Target {
    name: "observables",
    about: "Observable::parse for every kind (what /api/match and events carry): no panic, refusals with a message",
    seeds: INDICATOR_VALUES.seeds,
    dictionary: INDICATOR_VALUES.dictionary,
    max_len: 300,
    grammar: None,
    make: make_observables,
};

const KINDS: [ObservableKind; 7] = [
    ObservableKind::FileSha256,
    ObservableKind::FileSha1,
    ObservableKind::FileMd5,
    ObservableKind::CertificateThumbprint,
    ObservableKind::IpAddress,
    ObservableKind::DomainName,
    ObservableKind::Url,
];

fn make_observables() -> Checker {
    Box::new(|input: &[u8]| {
        let raw = text(input);
        let mut accepted = false;
        for kind in KINDS {
            match Observable::parse(kind, &raw) {
                Ok(_) => accepted = true,
                Err(error) => {
                    refused(&error.to_string(), "an observable")?;
                }
            }
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}
