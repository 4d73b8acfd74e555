//! Indicators as STIX 2.1 `indicator` objects, and STIX back into indicators.
//!
//! Export: one object per indicator, its pattern from the type and value, `valid_from` the
//! creation time, `valid_until` the expiry, `name`/`description` the title and description,
//! `indicator_types` `benign` for `Allowed` and `malicious-activity` otherwise, MITRE
//! techniques as `external_references`, and `x_iocd_*` properties for what STIX has no field
//! for. The id is a UUIDv5 of the indicator's key (type, value, action), so the same
//! indicator always exports the same id, and importing an export updates what it came from.
//!
//! Import: bundles, arrays or single objects; each `indicator` with a `stix` pattern becomes
//! one indicator per value its pattern stands for ([`crate::pattern`]); `revoked: true`
//! removes them; of several versions of one object the newest `modified` wins; every other
//! object, and every pattern iocd cannot enforce, is reported with its reason.

use crate::pattern;
use crate::{ImportBatch, ImportDefaults, ImportItem, Removal};
use iocd_model::{Action, IndicatorEntity, IndicatorType, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The namespace of iocd's STIX ids (a UUIDv5 namespace of its own).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b1c_5f3e_9a2d_4f1b_8e07_51d4_c0a9_3e26);

/// Most objects one import reads.
pub const MAX_OBJECTS: usize = 1_000_000;

/// A timestamp as STIX writes them: UTC, milliseconds, `Z`.
pub fn stix_time(time: Timestamp) -> String {
    let t = time.to_offset_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A UUID in version 4's form (as STIX wants for the objects it does not derive ids for)
/// whose random bits come from hashing `key`, so the same key always gives the same id.
fn stable_uuid(key: &str) -> uuid::Uuid {
    let hashed = uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes()).into_bytes();
    uuid::Builder::from_random_bytes(hashed).into_uuid()
}

/// The STIX id of an indicator. An indicator imported from one STIX object (its
/// `externalId` a STIX indicator id) keeps that object's id; any other gets an id derived from
/// its iocd id and key (type, value, action), which holds the iocd id so that the id leads
/// back to it ([`embedded_indicator_id`]). Either way the same indicator always exports the
/// same id.
pub fn stix_id(entity: &IndicatorEntity) -> String {
    if let Some(external) = entity.external_id.as_deref()
        && is_indicator_id(external)
    {
        return external.to_owned();
    }
    let key = format!(
        "{}|{}|{}",
        entity.indicator_type.as_str(),
        entity.indicator_value,
        entity.action.as_str()
    );
    let mut bytes = stable_uuid(&key).into_bytes();
    let id = entity
        .id
        .parse::<i64>()
        .unwrap_or(0)
        .clamp(0, (1 << 40) - 1);
    bytes[..5].copy_from_slice(&id.to_be_bytes()[3..]);
    format!(
        "indicator--{}",
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    )
}

/// Whether `text` is a STIX indicator id (`indicator--` and a UUID).
pub fn is_indicator_id(text: &str) -> bool {
    text.strip_prefix("indicator--")
        .is_some_and(|uuid| uuid::Uuid::parse_str(uuid).is_ok())
}

/// The iocd id held by an id [`stix_id`] derived (check that the indicator it names has this
/// STIX id: any UUID decodes to some number).
pub fn embedded_indicator_id(stix_id: &str) -> Option<i64> {
    let uuid = uuid::Uuid::parse_str(stix_id.strip_prefix("indicator--")?).ok()?;
    let bytes = uuid.into_bytes();
    let mut id = [0u8; 8];
    id[3..].copy_from_slice(&bytes[..5]);
    Some(i64::from_be_bytes(id)).filter(|id| *id > 0)
}

/// The identity that creates iocd's extension definition.
pub const IDENTITY_ID: &str = "identity--8f7c1c5e-2a4b-4d3e-9f6a-1b2c3d4e5f60";
/// The extension that declares the `x_iocd_*` properties (a top-level property extension).
pub const EXTENSION_ID: &str = "extension-definition--3c9a7e21-5b4d-4e8f-a1c2-d3e4f5a6b7c8";
/// When the extension definition was written (its `created` and `modified`).
const EXTENSION_TIME: &str = "2026-12-05T00:00:00.000Z";

/// iocd's identity and the definition of its extension, which every bundle carries.
pub fn extension_objects() -> [Value; 2] {
    [
        json!({"type": "identity", "spec_version": "2.1", "id": IDENTITY_ID,
               "created": EXTENSION_TIME, "modified": EXTENSION_TIME,
               "name": "iocd", "identity_class": "system"}),
        json!({"type": "extension-definition", "spec_version": "2.1", "id": EXTENSION_ID,
               "created_by_ref": IDENTITY_ID, "created": EXTENSION_TIME, "modified": EXTENSION_TIME,
               "name": "iocd indicator properties",
               "description": "What an iocd (MDE-style) indicator holds that STIX has no property for: x_iocd_action, x_iocd_severity, x_iocd_generate_alert, x_iocd_category, x_iocd_rbac_group_names, x_iocd_recommended_actions, x_iocd_warninglist. See docs/interop.md.",
               "schema": "x_iocd_action: Allowed, Audit, Warn, Block or BlockAndRemediate; x_iocd_severity: Informational, Low, Medium or High; x_iocd_generate_alert: boolean; x_iocd_category: integer 1 to 18 (MDE alert category); x_iocd_rbac_group_names: list of device-group names (empty: all devices); x_iocd_recommended_actions: string; x_iocd_warninglist: names of the known-good warninglists the indicator would block something on. Described in docs/interop.md of iocd.",
               "version": "1.0.0",
               "extension_types": ["toplevel-property-extension"],
               "extension_properties": ["x_iocd_action", "x_iocd_severity", "x_iocd_generate_alert",
                   "x_iocd_category", "x_iocd_rbac_group_names", "x_iocd_recommended_actions",
                   "x_iocd_warninglist"]}),
    ]
}

/// The STIX pattern of an indicator's value.
pub fn pattern_of(indicator_type: IndicatorType, value: &str) -> String {
    let quoted = pattern::quote(value);
    match indicator_type {
        IndicatorType::FileSha256 => format!("[file:hashes.'SHA-256' = {quoted}]"),
        IndicatorType::FileSha1 => format!("[file:hashes.'SHA-1' = {quoted}]"),
        IndicatorType::FileMd5 => format!("[file:hashes.MD5 = {quoted}]"),
        IndicatorType::CertificateThumbprint if value.len() == 64 => {
            format!("[x509-certificate:hashes.'SHA-256' = {quoted}]")
        }
        IndicatorType::CertificateThumbprint => {
            format!("[x509-certificate:hashes.'SHA-1' = {quoted}]")
        }
        IndicatorType::IpAddress if value.contains(':') => {
            format!("[ipv6-addr:value = {quoted}]")
        }
        IndicatorType::IpAddress => format!("[ipv4-addr:value = {quoted}]"),
        IndicatorType::DomainName => format!("[domain-name:value = {quoted}]"),
        IndicatorType::Url => format!("[url:value = {quoted}]"),
    }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse(text)
}

/// One indicator as a STIX `indicator` object.
pub fn indicator_object(entity: &IndicatorEntity) -> Value {
    let created =
        parse_time(&entity.creation_time_date_time_utc).unwrap_or(Timestamp::from_ticks(0));
    let modified = parse_time(&entity.last_update_time)
        .unwrap_or(created)
        .max(created);
    let mut object = Map::new();
    object.insert("type".into(), json!("indicator"));
    object.insert("spec_version".into(), json!("2.1"));
    object.insert("id".into(), json!(stix_id(entity)));
    object.insert("created".into(), json!(stix_time(created)));
    object.insert("modified".into(), json!(stix_time(modified)));
    object.insert("name".into(), json!(entity.title));
    if !entity.description.is_empty() {
        object.insert("description".into(), json!(entity.description));
    }
    let kind = if entity.action == Action::Allowed {
        "benign"
    } else {
        "malicious-activity"
    };
    object.insert("indicator_types".into(), json!([kind]));
    object.insert(
        "pattern".into(),
        json!(pattern_of(entity.indicator_type, &entity.indicator_value)),
    );
    object.insert("pattern_type".into(), json!("stix"));
    object.insert("pattern_version".into(), json!("2.1"));
    object.insert("valid_from".into(), json!(stix_time(created)));
    if let Some(until) = entity.expiration_time.as_deref().and_then(parse_time)
        && until > created
    {
        object.insert("valid_until".into(), json!(stix_time(until)));
    }
    if !entity.mitre_techniques.is_empty() {
        let references: Vec<Value> = entity
            .mitre_techniques
            .iter()
            .map(|technique| json!({"source_name": "mitre-attack", "external_id": technique}))
            .collect();
        object.insert("external_references".into(), Value::Array(references));
    }
    object.insert(
        "extensions".into(),
        json!({EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}),
    );
    object.insert("x_iocd_action".into(), json!(entity.action.as_str()));
    object.insert("x_iocd_severity".into(), json!(entity.severity.as_str()));
    object.insert("x_iocd_generate_alert".into(), json!(entity.generate_alert));
    object.insert("x_iocd_category".into(), json!(entity.category));
    if !entity.rbac_group_names.is_empty() {
        object.insert(
            "x_iocd_rbac_group_names".into(),
            json!(entity.rbac_group_names),
        );
    }
    if let Some(actions) = &entity.recommended_actions {
        object.insert("x_iocd_recommended_actions".into(), json!(actions));
    }
    if !entity.warninglists.is_empty() {
        object.insert("x_iocd_warninglist".into(), json!(entity.warninglists));
    }
    Value::Object(object)
}

/// A bundle of every indicator, after iocd's identity and extension definition, with an id
/// derived from theirs (the same indicators make the same bundle).
pub fn bundle(entities: &[IndicatorEntity]) -> Value {
    let mut objects: Vec<Value> = extension_objects().into();
    objects.extend(entities.iter().map(indicator_object));
    let ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    let id = stable_uuid(&ids.join(","));
    json!({"type": "bundle", "id": format!("bundle--{id}"), "objects": objects})
}

/// The objects of a STIX document: a bundle's, an array's, or the object itself.
fn objects_of(document: &Value) -> Result<Vec<&Value>, String> {
    match document {
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(object) if object.get("type") == Some(&json!("bundle")) => {
            match object.get("objects") {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.iter().collect()),
                Some(_) => Err("the bundle's objects is not an array".into()),
            }
        }
        Value::Object(_) => Ok(vec![document]),
        _ => Err("a STIX document is a bundle, an object or an array of objects".into()),
    }
}

/// Whether `document` looks like STIX (a bundle, or objects with a STIX `type` and `id`).
pub fn is_stix(document: &Value) -> bool {
    let looks = |object: &Value| {
        object["id"].as_str().is_some_and(|id| id.contains("--")) && object["type"].is_string()
    };
    match document {
        Value::Object(object) if object.get("type") == Some(&json!("bundle")) => true,
        Value::Object(_) => looks(document),
        Value::Array(items) => !items.is_empty() && items.iter().all(looks),
        _ => false,
    }
}

fn text<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// Reads the indicators of a STIX document.
pub fn read(document: &Value, defaults: &ImportDefaults) -> ImportBatch {
    let mut batch = ImportBatch::default();
    let objects = match objects_of(document) {
        Ok(objects) => objects,
        Err(reason) => {
            batch.problem("document", reason);
            return batch;
        }
    };
    if objects.len() > MAX_OBJECTS {
        batch.problem(
            "document",
            format!("more than {MAX_OBJECTS} objects; split the bundle"),
        );
        return batch;
    }
    // The newest version of each object (by `modified`, then position).
    let mut newest: HashMap<&str, (usize, Option<Timestamp>)> = HashMap::new();
    for (position, object) in objects.iter().enumerate() {
        let Some(id) = text(object, "id") else {
            continue;
        };
        let modified = text(object, "modified").and_then(parse_time);
        match newest.get(id) {
            Some((_, kept)) if *kept > modified => {}
            _ => {
                newest.insert(id, (position, modified));
            }
        }
    }
    for (position, object) in objects.iter().enumerate() {
        let origin = match text(object, "id") {
            Some(id) => format!("object {id}"),
            None => format!("object {}", position + 1),
        };
        let Some(kind) = text(object, "type") else {
            batch.problem(origin, "no type");
            continue;
        };
        let Some(id) = text(object, "id") else {
            batch.problem(origin, "no id");
            continue;
        };
        if newest.get(id).map(|(kept, _)| *kept) != Some(position) {
            batch.problem(
                origin,
                "an older version of an object given again (the newest modified wins)",
            );
            continue;
        }
        if id == IDENTITY_ID || id == EXTENSION_ID {
            continue; // iocd's own identity and extension definition, which exports carry
        }
        if kind != "indicator" {
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            batch.problem(origin, format!("{article} {kind} object, not an indicator"));
            continue;
        }
        match text(object, "pattern_type") {
            Some("stix") | None => {}
            Some(other) => {
                batch.problem(
                    origin,
                    format!("pattern_type {other} (only stix patterns map to indicators)"),
                );
                continue;
            }
        }
        let Some(pattern_text) = text(object, "pattern") else {
            batch.problem(origin, "no pattern");
            continue;
        };
        let values = match pattern::values(pattern_text) {
            Ok(values) if values.is_empty() => {
                batch.problem(origin, "the pattern names no value");
                continue;
            }
            Ok(values) => values,
            Err(reason) => {
                batch.problem(origin, format!("pattern not supported: {reason}"));
                continue;
            }
        };
        if object.get("revoked") == Some(&Value::Bool(true)) {
            for (indicator_type, value) in values {
                batch.removals.push(Removal {
                    origin: origin.clone(),
                    indicator_type,
                    value,
                });
            }
            continue;
        }
        let single = values.len() == 1;
        for (indicator_type, value) in values {
            let mut submission = submission(object, indicator_type, &value, defaults);
            // One indicator from one object keeps the object's id (exports give it back);
            // several from one object get ids of their own.
            if single {
                submission.insert("externalId".into(), json!(id));
            }
            batch.items.push(ImportItem {
                origin: origin.clone(),
                submission,
            });
        }
    }
    batch
}

/// The submission of one value of a STIX indicator.
fn submission(
    object: &Value,
    indicator_type: IndicatorType,
    value: &str,
    defaults: &ImportDefaults,
) -> Map<String, Value> {
    let name = text(object, "name")
        .or_else(|| text(object, "id"))
        .unwrap_or("STIX indicator");
    let description = text(object, "description").unwrap_or(name);
    let mut defaults = defaults.clone();
    let benign = object["indicator_types"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "benign"));
    if benign {
        defaults.action = Action::Allowed;
    }
    if let Some(action) = text(object, "x_iocd_action").and_then(Action::parse) {
        defaults.action = action;
    }
    if let Some(severity) = text(object, "x_iocd_severity").and_then(iocd_model::Severity::parse) {
        defaults.severity = severity;
    }
    let mut submission = defaults.submission(indicator_type, value, name, description);
    if let Some(until) = text(object, "valid_until") {
        submission.insert("expirationTime".into(), json!(until));
    }
    if let Some(flag) = object.get("x_iocd_generate_alert").and_then(Value::as_bool) {
        submission.insert("generateAlert".into(), json!(flag));
    }
    if let Some(category) = object.get("x_iocd_category").and_then(Value::as_i64) {
        submission.insert("category".into(), json!(category));
    }
    if let Some(groups) = object
        .get("x_iocd_rbac_group_names")
        .and_then(Value::as_array)
    {
        submission.insert("rbacGroupNames".into(), Value::Array(groups.clone()));
    }
    if let Some(actions) = text(object, "x_iocd_recommended_actions") {
        submission.insert("recommendedActions".into(), json!(actions));
    }
    let techniques: Vec<&str> = object["external_references"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| r["source_name"] == "mitre-attack")
        .filter_map(|r| r["external_id"].as_str())
        .filter(|id| id.starts_with('T'))
        .collect();
    if !techniques.is_empty() {
        submission.insert("mitreTechniques".into(), json!(techniques));
    }
    submission
}
