//! MISP events (`{"Event": …}`, or the API's `{"response": [{"Event": …}]}`) as indicators:
//! each attribute, in the event and in its objects, whose type maps to an indicator type and
//! whose `to_ids` is set becomes one indicator (two for `domain|ip`). The rest is reported.

use crate::{ImportBatch, ImportDefaults, ImportItem};
use iocd_model::IndicatorType;
use serde_json::{Value, json};

/// Whether `document` looks like a MISP event export.
pub fn is_misp(document: &Value) -> bool {
    document.get("Event").is_some_and(Value::is_object)
        || document
            .get("response")
            .and_then(Value::as_array)
            .is_some_and(|events| events.iter().any(|e| e.get("Event").is_some()))
}

/// The values an attribute stands for, by its MISP type.
fn attribute_values(kind: &str, value: &str) -> Result<Vec<(IndicatorType, String)>, String> {
    let first = || value.split('|').next().unwrap_or(value).to_owned();
    let second = || value.split_once('|').map(|(_, v)| v.to_owned());
    let one = |t: IndicatorType, v: String| Ok(vec![(t, v)]);
    match kind {
        "md5" => one(IndicatorType::FileMd5, value.to_owned()),
        "sha1" => one(IndicatorType::FileSha1, value.to_owned()),
        "sha256" => one(IndicatorType::FileSha256, value.to_owned()),
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let hash = second().ok_or_else(|| format!("{kind} value without |"))?;
            let indicator_type = match kind {
                "filename|md5" => IndicatorType::FileMd5,
                "filename|sha1" => IndicatorType::FileSha1,
                _ => IndicatorType::FileSha256,
            };
            one(indicator_type, hash)
        }
        "ip-src" | "ip-dst" => one(IndicatorType::IpAddress, value.to_owned()),
        "ip-src|port" | "ip-dst|port" => one(IndicatorType::IpAddress, first()),
        "domain" | "hostname" => one(IndicatorType::DomainName, value.to_owned()),
        "domain|ip" => {
            let ip = second().ok_or_else(|| "domain|ip value without |".to_owned())?;
            Ok(vec![
                (IndicatorType::DomainName, first()),
                (IndicatorType::IpAddress, ip),
            ])
        }
        "url" => one(IndicatorType::Url, value.to_owned()),
        "x509-fingerprint-sha1" | "x509-fingerprint-sha256" => {
            one(IndicatorType::CertificateThumbprint, value.to_owned())
        }
        other => Err(format!("the MISP type {other} has no indicator type")),
    }
}

/// Reads the indicators of a MISP event export.
pub fn read(document: &Value, defaults: &ImportDefaults) -> ImportBatch {
    let mut batch = ImportBatch::default();
    let events: Vec<&Value> = match document.get("response").and_then(Value::as_array) {
        Some(events) => events.iter().filter_map(|e| e.get("Event")).collect(),
        None => document.get("Event").into_iter().collect(),
    };
    if events.is_empty() {
        batch.problem("document", "no MISP Event in it");
    }
    for event in events {
        let info = event["info"].as_str().unwrap_or("MISP event");
        let techniques: Vec<String> = event["Tag"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|tag| tag["name"].as_str())
            .filter(|name| name.starts_with("misp-galaxy:mitre-attack-pattern"))
            .filter_map(|name| {
                name.rsplit(" - ")
                    .next()
                    .map(|t| t.trim_end_matches('"').to_owned())
                    .filter(|t| t.starts_with('T'))
            })
            .collect();
        let mut attributes: Vec<&Value> = event["Attribute"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for object in event["Object"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            attributes.extend(
                object["Attribute"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
        }
        for (n, attribute) in attributes.into_iter().enumerate() {
            let origin = match attribute["uuid"].as_str() {
                Some(uuid) => format!("attribute {uuid}"),
                None => format!("attribute {} of event {info:?}", n + 1),
            };
            let (Some(kind), Some(value)) =
                (attribute["type"].as_str(), attribute["value"].as_str())
            else {
                batch.problem(origin, "no type or value");
                continue;
            };
            if attribute["deleted"] == json!(true) {
                batch.problem(origin, "deleted in MISP");
                continue;
            }
            let to_ids = match &attribute["to_ids"] {
                Value::Bool(flag) => *flag,
                Value::String(flag) => flag == "1" || flag.eq_ignore_ascii_case("true"),
                Value::Number(n) => n.as_i64() == Some(1),
                _ => false,
            };
            if !to_ids {
                batch.problem(
                    origin,
                    format!("{kind} {value}: to_ids is not set (not for detection)"),
                );
                continue;
            }
            let values = match attribute_values(kind, value) {
                Ok(values) => values,
                Err(reason) => {
                    batch.problem(origin, reason);
                    continue;
                }
            };
            let description = match attribute["comment"].as_str().filter(|c| !c.is_empty()) {
                Some(comment) => format!("{info}: {comment}"),
                None => format!(
                    "{info} ({})",
                    attribute["category"].as_str().unwrap_or(kind)
                ),
            };
            for (indicator_type, value) in values {
                let mut submission =
                    defaults.submission(indicator_type, &value, info, &description);
                if !techniques.is_empty() {
                    submission.insert("mitreTechniques".into(), json!(techniques));
                }
                if let Some(uuid) = attribute["uuid"].as_str() {
                    submission.insert("externalId".into(), json!(uuid));
                }
                batch.items.push(ImportItem {
                    origin: origin.clone(),
                    submission,
                });
            }
        }
    }
    batch
}
