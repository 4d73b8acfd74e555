//! The readers of shared formats (`iocd import`, feeds): STIX patterns, and whole STIX, MISP
//! and plain-list documents.

use super::{refused, text};
use crate::{Checker, Target, Verdict};
use iocd_interop::{ImportDefaults, document, pattern, stix};

pub(super) const STIX_PATTERN: Target = Target {
    name: "stix-pattern",
    about: "pattern::values: no panic, a reason for every refusal, and what it accepts is a value of a supported path that reads back from its own pattern",
    seeds: &[
        b"[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        b"[ipv4-addr:value = '198.51.100.0/24'] OR [domain-name:value = 'a.example']",
        b"[domain-name:value IN ('a.example', 'b.example')]",
        b"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-1' = 'x']",
        b"([url:value = 'http://x/it\\'s'] FOLLOWEDBY [domain-name:value = 'y']) WITHIN 5 SECONDS",
        b"[x509-certificate:hashes.'SHA-1' = 'ab'] REPEATS 2 TIMES START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'",
    ],
    dictionary: &[
        "[", "]", "(", ")", "'", "\\'", " OR ", " AND ", " FOLLOWEDBY ", " WITHIN ", " IN ",
        " NOT ", " = ", " != ", " MATCHES ", "file:hashes.'SHA-256'", "domain-name:value",
        "url:value", "ipv4-addr:value", ",", "t'", "h'", "b'", "SECONDS", "REPEATS",
    ],
    max_len: 512,
    grammar: None,
    make: make_pattern,
};

fn make_pattern() -> Checker {
    Box::new(|input: &[u8]| {
        let pattern_text = text(input);
        match pattern::values(&pattern_text) {
            Err(reason) => refused(&reason, "a STIX pattern"),
            Ok(values) => {
                // Each value reads back unchanged from the pattern iocd writes for it.
                for (indicator_type, value) in &values {
                    let written = stix::pattern_of(*indicator_type, value);
                    match pattern::values(&written) {
                        Ok(again) if again.len() == 1 && again[0].1 == *value => {}
                        other => {
                            return Err(format!(
                                "{value:?} wrote {written:?}, which reads back as {other:?}"
                            ));
                        }
                    }
                }
                Ok(Verdict::Accepted)
            }
        }
    })
}

pub(super) const FEED_DOCUMENT: Target = Target {
    name: "feed-document",
    about: "STIX, MISP and plain-list readers: no panic, and every object, attribute or line is an item, a removal or a problem with a reason",
    seeds: &[
        br#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator","id":"indicator--1","pattern":"[domain-name:value = 'a.example']","pattern_type":"stix","modified":"2026-01-01T00:00:00Z"}]}"#,
        br#"[{"type":"indicator","id":"indicator--2","revoked":true,"pattern":"[url:value = 'http://x/']"}]"#,
        br#"{"Event":{"info":"x","Attribute":[{"type":"domain|ip","value":"a.example|1.2.3.4","to_ids":"1"},{"type":"md5","value":"x","to_ids":true}]}}"#,
        b"# list\n203.0.113.1\nexample.com\nnot a value\n",
        b"IndicatorType,IndicatorValue,Action\nDomainName,a.example,Block\n",
    ],
    dictionary: &[
        "\"type\"", "\"bundle\"", "\"indicator\"", "\"objects\"", "\"pattern\"", "\"revoked\"",
        "true", "\"modified\"", "\"Event\"", "\"Attribute\"", "\"to_ids\"", "\"value\"", "|",
        "\n", "#", "[", "]", "{", "}",
    ],
    max_len: 2048,
    grammar: None,
    make: make_document,
};

fn make_document() -> Checker {
    Box::new(|input: &[u8]| {
        let defaults = ImportDefaults::default();
        // The entry point of `iocd import` and `POST /api/indicators/convert`.
        let batch = match document::read(input, "fuzz", &defaults) {
            Ok((_, batch)) => batch,
            Err(error) => return refused(&error.to_string(), "a document"),
        };
        for problem in &batch.problems {
            if problem.reason.trim().is_empty() || problem.origin.trim().is_empty() {
                return Err(format!("a problem without a reason or origin: {problem:?}"));
            }
        }
        for item in &batch.items {
            for key in [
                "indicatorValue",
                "indicatorType",
                "action",
                "title",
                "description",
            ] {
                if !item.submission.contains_key(key) {
                    return Err(format!("an item without {key}: {item:?}"));
                }
            }
        }
        Ok(if batch.items.is_empty() && batch.removals.is_empty() {
            Verdict::Refused
        } else {
            Verdict::Accepted
        })
    })
}
