//! Reducing one device event to what matching needs: its device, time and observables. Two
//! readers apply the same rules: [`extract`] over a parsed JSON tree (any profile), and
//! [`extract_mde_line`], which reads an MDE line's few fields straight from its text.

use super::{DeviceEvent, EventProfile, Seen, profile::Fields};
use iocd_engine::observable::{parse_hex, parse_thumbprint};
use iocd_engine::{FileHashes, Observable, ObservableKind};
use iocd_model::Timestamp;
use iocd_store::detections::DeviceRef;
use serde_json::Value;
use std::borrow::Cow;

/// Looks a field up by an ECS-style dotted name, in nested objects, in flat dotted keys, or in
/// any mix of the two.
fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let object = event.as_object()?;
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    let mut split = path.len();
    while let Some(dot) = path[..split].rfind('.') {
        if let Some(inner) = object.get(&path[..dot]) {
            return lookup(inner, &path[dot + 1..]);
        }
        split = dot;
    }
    None
}

fn text<'a>(event: &'a Value, path: &str) -> Option<&'a str> {
    lookup(event, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Reduces one event to its device, time and observables. Fails only when the event is not a
/// JSON object or names no device.
pub fn extract(
    profile: EventProfile,
    event: &Value,
    now: Timestamp,
) -> Result<DeviceEvent, String> {
    if !event.is_object() {
        return Err("an event must be a JSON object".into());
    }
    extract_fields(profile.fields(), |name| text(event, name), now)
}

/// The rules of [`extract`] over any way of reading a field by name.
fn extract_fields<'e>(
    fields: &Fields,
    text: impl Fn(&str) -> Option<&'e str>,
    now: Timestamp,
) -> Result<DeviceEvent, String> {
    let first = |names: &[&str]| names.iter().find_map(|n| text(n)).map(str::to_owned);
    let name = first(fields.device_name);
    let Some(id) = first(fields.device_id).or_else(|| name.clone()) else {
        return Err(format!(
            "the event names no device (expected {} or {})",
            fields.device_id.join("/"),
            fields.device_name.join("/")
        ));
    };
    let time = match first(fields.time) {
        Some(text) => Timestamp::parse(&text)
            .ok_or_else(|| format!("the event time {text:?} is not an ISO 8601 date-time"))?,
        None => now,
    };
    let mut out = DeviceEvent {
        device: DeviceRef {
            id,
            name,
            group: first(fields.device_group),
        },
        time,
        seen: Vec::new(),
        invalid: Vec::new(),
    };
    for file in fields.files {
        let mut hashes = FileHashes::default();
        let mut shown = Vec::new();
        for (slot, name) in file.iter().enumerate() {
            let Some(name) = name else { continue };
            let Some(value) = text(name) else {
                continue;
            };
            let parsed = match slot {
                0 => parse_hex("SHA-256", value).map(|h| hashes.sha256 = Some(h)),
                1 => parse_hex("SHA-1", value).map(|h| hashes.sha1 = Some(h)),
                2 => parse_hex("MD5", value).map(|h| hashes.md5 = Some(h)),
                _ => parse_thumbprint(value).map(|h| hashes.certificate = Some(h)),
            };
            match parsed {
                Ok(()) => shown.push(value.to_owned()),
                Err(error) => out.invalid.push(format!("{name}: {error}")),
            }
        }
        if !hashes.is_empty() {
            out.seen.push(Seen {
                observable: Observable::File(hashes),
                field: file.iter().flatten().next().copied().unwrap_or("file"),
                value: shown.join(","),
            });
        }
    }
    let add = |kind: ObservableKind, name: &'static str, value: &str, out: &mut DeviceEvent| {
        match Observable::parse(kind, value) {
            Ok(observable) => {
                if !out.seen.iter().any(|s| s.observable == observable) {
                    out.seen.push(Seen {
                        observable,
                        field: name,
                        value: value.to_owned(),
                    });
                }
            }
            Err(error) => out.invalid.push(format!("{name}: {error}")),
        }
    };
    for name in fields.ips {
        if let Some(value) = text(name) {
            add(ObservableKind::IpAddress, name, value, &mut out);
        }
    }
    for name in fields.urls {
        if let Some(value) = text(name) {
            // MDE's RemoteUrl is often a bare host name or a URL without its scheme.
            if value.contains("://") {
                add(ObservableKind::Url, name, value, &mut out);
            } else if value.contains('/') {
                add(
                    ObservableKind::Url,
                    name,
                    &format!("http://{value}"),
                    &mut out,
                );
            } else {
                add(ObservableKind::DomainName, name, value, &mut out);
            }
        }
    }
    for name in fields.domains {
        if let Some(value) = text(name) {
            add(ObservableKind::DomainName, name, value, &mut out);
        }
    }
    Ok(out)
}

/// The fields of an MDE advanced-hunting row that matching reads, borrowed from the line
/// where possible; every other field is skipped without being built.
#[derive(Debug, Default, serde::Deserialize)]
#[allow(non_snake_case)]
struct MdeRow<'a> {
    #[serde(borrow, default)]
    DeviceId: Text<'a>,
    #[serde(borrow, default)]
    DeviceName: Text<'a>,
    #[serde(borrow, default)]
    MachineGroup: Text<'a>,
    #[serde(borrow, default)]
    Timestamp: Text<'a>,
    #[serde(borrow, default)]
    SHA256: Text<'a>,
    #[serde(borrow, default)]
    SHA1: Text<'a>,
    #[serde(borrow, default)]
    MD5: Text<'a>,
    #[serde(borrow, default)]
    SignerHash: Text<'a>,
    #[serde(borrow, default)]
    InitiatingProcessSHA256: Text<'a>,
    #[serde(borrow, default)]
    InitiatingProcessSHA1: Text<'a>,
    #[serde(borrow, default)]
    InitiatingProcessMD5: Text<'a>,
    #[serde(borrow, default)]
    RemoteIP: Text<'a>,
    #[serde(borrow, default)]
    FileOriginIP: Text<'a>,
    #[serde(borrow, default)]
    RemoteUrl: Text<'a>,
    #[serde(borrow, default)]
    FileOriginUrl: Text<'a>,
}

/// A field's text, or nothing when the field holds another JSON type (a number, `null`, an
/// object): what the tree reader's "a string or absent" makes of it.
#[derive(Debug, Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Borrowed(text))))
    }

    fn visit_str<E>(self, text: &str) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Owned(text.to_owned()))))
    }

    fn visit_string<E>(self, text: String) -> Result<Text<'a>, E> {
        Ok(Text(Some(Cow::Owned(text))))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_unit<E>(self) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_none<E>(self) -> Result<Text<'a>, E> {
        Ok(Text(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Text<'a>, A::Error> {
        while items.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Text<'a>, A::Error> {
        while entries
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Text(None))
    }
}

/// Parses one NDJSON line of MDE fields straight into the shape [`extract`] produces, without
/// building a JSON tree (the fast path of `iocd scan`). Same rules and results as
/// `extract(EventProfile::Mde, ...)`.
pub fn extract_mde_line(line: &[u8], now: Timestamp) -> Result<DeviceEvent, String> {
    // The general path decides every line the fast one does not read as a plain object: a
    // derived struct would read a JSON array as its fields in order, and refuses a repeated
    // field that the general path takes the last value of.
    let fast = if line.trim_ascii_start().first() == Some(&b'{') {
        serde_json::from_slice::<MdeRow<'_>>(line).ok()
    } else {
        None
    };
    let Some(row) = fast else {
        let event: Value =
            serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        return extract(EventProfile::Mde, &event, now);
    };
    let field = |name: &str| -> Option<&str> {
        let value = match name {
            "DeviceId" => &row.DeviceId,
            "DeviceName" => &row.DeviceName,
            "MachineGroup" => &row.MachineGroup,
            "Timestamp" => &row.Timestamp,
            "SHA256" => &row.SHA256,
            "SHA1" => &row.SHA1,
            "MD5" => &row.MD5,
            "SignerHash" => &row.SignerHash,
            "InitiatingProcessSHA256" => &row.InitiatingProcessSHA256,
            "InitiatingProcessSHA1" => &row.InitiatingProcessSHA1,
            "InitiatingProcessMD5" => &row.InitiatingProcessMD5,
            "RemoteIP" => &row.RemoteIP,
            "FileOriginIP" => &row.FileOriginIP,
            "RemoteUrl" => &row.RemoteUrl,
            "FileOriginUrl" => &row.FileOriginUrl,
            _ => return None,
        };
        value.0.as_deref().map(str::trim).filter(|v| !v.is_empty())
    };
    extract_fields(&super::profile::MDE_FIELDS, field, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fast_line_reader_agrees_with_the_general_one_on_odd_lines() {
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        for line in [
            r#"["d1"]"#,
            r#"{"DeviceId":"d1","SHA1":"x","SHA1":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}"#,
            r#"  {"DeviceId":"d1","RemoteIP":"203.0.113.7"}"#,
            r#"{"DeviceId":"#,
            "7",
        ] {
            let general = serde_json::from_slice::<Value>(line.as_bytes())
                .map_err(|e| format!("invalid JSON: {e}"))
                .and_then(|event| extract(EventProfile::Mde, &event, now));
            assert_eq!(extract_mde_line(line.as_bytes(), now), general, "{line}");
        }
    }

    #[test]
    fn fields_are_found_nested_flat_or_mixed() {
        let event = json!({"file": {"hash": {"sha256": "a"}}, "process.hash": {"md5": "b"}, "url.full": "c"});
        assert_eq!(text(&event, "file.hash.sha256"), Some("a"));
        assert_eq!(text(&event, "process.hash.md5"), Some("b"));
        assert_eq!(text(&event, "url.full"), Some("c"));
        assert_eq!(text(&event, "file.hash.md5"), None);
    }
}
