//! JSON bodies: indicator submissions (`POST /api/indicators`, import items, bulk lines) and
//! device events (`POST /api/events`, `iocd scan`).

use super::refused;
use crate::{Checker, Target, Verdict};
use iocd_model::{IndicatorSubmission, Timestamp, ValidationOptions, validate_submission};
use iocd_service::events::{EventProfile, extract, extract_mde_line};

pub(super) const INDICATOR: Target = Target {
    name: "indicator-json",
    about: "indicator submissions from JSON through validation, strict and extended: no panic, refusals with a message",
    seeds: &[
        br#"{"indicatorValue":"evil.example","indicatorType":"DomainName","action":"Block","title":"t","description":"d"}"#,
        br#"{"indicatorValue":"203.0.113.0/24","indicatorType":"IpAddress","action":"Audit","generateAlert":true,"title":"t","description":"d","expirationTime":"2030-01-01T00:00:00Z","severity":"High","rbacGroupNames":["a","b"],"mitreTechniques":["T1059.001"],"category":"Malware"}"#,
        br#"{"indicatorValue":"A1B2C3D4E5F60718293A4B5C6D7E8F9012345678","indicatorType":"CertificateThumbprint","action":"AlertAndBlock","title":"t","description":"d","certificateInfo":{"issuer":"x"},"historicalDetection":true,"lookBackPeriod":"P30D","bypassDurationHours":24,"educateUrl":"https://help.example/","notificationId":"n","notificationBody":"b","rbacGroupIds":[1,2]}"#,
        br#"{"indicatorValue":"http://evil.example/a","indicatorType":"Url","action":"Warn","title":"t","description":"d","rbacGroupNames":"a,b","category":7,"lookBackPeriod":"30.00:00:00"}"#,
    ],
    dictionary: &[
        "{", "}", "[", "]", ",", ":", "\"", "\\\"", "\\u0000", "\\ud800", "null", "true", "false",
        "\"indicatorValue\"", "\"indicatorType\"", "\"action\"", "\"title\"", "\"description\"",
        "\"expirationTime\"", "\"severity\"", "\"rbacGroupNames\"", "\"rbacGroupIds\"",
        "\"mitreTechniques\"", "\"category\"", "\"generateAlert\"", "\"lookBackPeriod\"",
        "\"bypassDurationHours\"", "\"certificateInfo\"", "\"historicalDetection\"", "\"P1D\"",
        "\"PT0S\"", "\"-1.00:00:00\"", "\"2024-02-30\"", "1e400", "-0", "[[[[[[[[", "]]]]]]]]",
    ],
    max_len: 4096,
    grammar: None,
    make: make_indicator,
};

fn make_indicator() -> Checker {
    let now = Timestamp::from_unix_seconds(1_760_000_000);
    let options = [
        ValidationOptions::json(now, false),
        ValidationOptions::json(now, true),
    ];
    Box::new(move |input: &[u8]| {
        let submission: IndicatorSubmission = match serde_json::from_slice(input) {
            Ok(submission) => submission,
            Err(error) => return refused(&error.to_string(), "a JSON body"),
        };
        let mut accepted = false;
        for options in &options {
            match validate_submission(&submission, options) {
                Ok(_) => accepted = true,
                Err(error) => {
                    refused(&error.message, "a submission")?;
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

pub(super) const EVENTS: Target = Target {
    name: "events-json",
    about: "device events in both profiles: no panic, refusals with a message, and the fast MDE line reader agrees with the general one",
    seeds: &[
        br#"{"DeviceId":"d1","DeviceName":"pc1","Timestamp":"2024-05-01T10:00:00Z","SHA256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","RemoteIP":"203.0.113.7","RemoteUrl":"http://evil.example/x"}"#,
        br#"{"DeviceName":"pc2","MachineGroup":"servers","SHA1":"da39a3ee5e6b4b0d3255bfef95601890afd80709","MD5":"bad","FileOriginUrl":"evil.example","SignerHash":"A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"}"#,
        br#"{"host":{"id":"h1","name":"pc3"},"@timestamp":"2024-05-01T10:00:00.123Z","file":{"hash":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},"destination.ip":"198.51.100.1","url.full":"https://evil.example/","dns":{"question":{"name":"evil.example"}}}"#,
    ],
    dictionary: &[
        "{", "}", "[", "]", ",", ":", "\"", "null", "true", "1", "\"DeviceId\"", "\"DeviceName\"",
        "\"Timestamp\"", "\"SHA256\"", "\"SHA1\"", "\"MD5\"", "\"RemoteIP\"", "\"RemoteUrl\"",
        "\"FileOriginIP\"", "\"FileOriginUrl\"", "\"MachineGroup\"", "\"SignerHash\"",
        "\"InitiatingProcessSHA256\"", "\"host\"", "\"id\"", "\"name\"", "\"@timestamp\"",
        "\"file\"", "\"hash\"", "\"sha256\"", "\"destination.ip\"", "\"url.full\"", ".",
        "\"   \"", "\"\"", "\"2024-05-01\"",
    ],
    max_len: 4096,
    grammar: None,
    make: make_events,
};

fn make_events() -> Checker {
    let now = Timestamp::from_unix_seconds(1_760_000_000);
    Box::new(move |input: &[u8]| {
        let event: serde_json::Value = match serde_json::from_slice(input) {
            Ok(event) => event,
            Err(error) => return refused(&error.to_string(), "an event's JSON"),
        };
        let mut accepted = false;
        for profile in [EventProfile::Mde, EventProfile::Ecs] {
            match extract(profile, &event, now) {
                Ok(_) => accepted = true,
                Err(message) => {
                    refused(&message, "an event")?;
                }
            }
        }
        let general = extract(EventProfile::Mde, &event, now);
        match (extract_mde_line(input, now), general) {
            (Ok(fast), Ok(general)) if fast != general => {
                return Err(format!(
                    "the fast MDE reader gives {fast:?}, the general one {general:?}"
                ));
            }
            (Ok(fast), Err(message)) => {
                return Err(format!(
                    "the fast MDE reader gives {fast:?}, the general one refuses: {message}"
                ));
            }
            (Err(message), Ok(general)) => {
                return Err(format!(
                    "the fast MDE reader refuses ({message}), the general one gives {general:?}"
                ));
            }
            (Err(message), Err(_)) => {
                refused(&message, "an event line")?;
            }
            (Ok(_), Ok(_)) => {}
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}
