//! Generators of well-formed inputs for the targets whose grammar is rich enough that random
//! mutation alone rarely produces a valid one: OData `$filter` and `$orderby`, and timestamps.
//! Values stray into the wrong kinds and edges on purpose, so refusals are exercised as well.

use crate::Rng;

const STRING_FIELDS: &[&str] = &[
    "application",
    "createdByDisplayName",
    "title",
    "description",
    "indicatorValue",
    "indicatorType",
    "lastUpdatedBy",
    "createdBy",
    "action",
    "severity",
    "category",
    "externalId",
    "status",
    "classification",
    "assignedTo",
    "detectionSource",
    "machineId",
    "computerDnsName",
    "machineGroup",
];
const DATE_FIELDS: &[&str] = &[
    "expirationTime",
    "creationTimeDateTimeUtc",
    "lastUpdateTime",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
];
const NUMBER_FIELDS: &[&str] = &["id", "rbacGroupIds", "indicatorId", "eventCount"];
const ENUM_VALUES: &[&str] = &[
    "Block",
    "Audit",
    "Warn",
    "Allowed",
    "BlockAndRemediate",
    "AlertAndBlock",
    "High",
    "Medium",
    "Low",
    "Informational",
    "FileSha256",
    "DomainName",
    "Url",
    "IpAddress",
    "New",
    "InProgress",
    "Resolved",
    "TruePositive",
    "Malware",
];
const WORDS: &[&str] = &[
    "evil.example",
    "a",
    "",
    "servers",
    "x'y",
    "é",
    "%",
    "_",
    "\\",
    "*",
    "203.0.113.0/24",
    "t",
    "ünï",
    "\u{feff}",
];

fn all_fields() -> impl Iterator<Item = &'static str> {
    STRING_FIELDS
        .iter()
        .chain(DATE_FIELDS)
        .chain(NUMBER_FIELDS)
        .chain(&["generateAlert", "rbacGroupNames"])
        .copied()
}

fn any_field(rng: &mut Rng) -> &'static str {
    let count = all_fields().count();
    all_fields().nth(rng.below(count)).unwrap_or("id")
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn string_literal(rng: &mut Rng) -> String {
    let words = if rng.one_in(2) { ENUM_VALUES } else { WORDS };
    let word: &&str = rng.pick(words);
    quoted(word)
}

fn number_literal(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => "0".to_owned(),
        1 => (rng.below(100) as i64 - 10).to_string(),
        2 => (rng.next_u64() as i64).to_string(),
        _ => "99999999999999999999".to_owned(),
    }
}

fn literal_for(field: &str, rng: &mut Rng) -> String {
    // One in eight strays into another kind.
    let field = if rng.one_in(8) { any_field(rng) } else { field };
    if rng.one_in(16) {
        return "null".to_owned();
    }
    if DATE_FIELDS.contains(&field) {
        let stamp = String::from_utf8_lossy(&timestamp(rng)).into_owned();
        return if rng.one_in(2) { stamp } else { quoted(&stamp) };
    }
    if NUMBER_FIELDS.contains(&field) {
        return number_literal(rng);
    }
    if field == "generateAlert" {
        return (*rng.pick(&["true", "false", "True", "1"])).to_owned();
    }
    string_literal(rng)
}

fn comparison(rng: &mut Rng) -> String {
    let field = any_field(rng);
    let op = rng.pick(&["eq", "ne", "gt", "ge", "lt", "le"]);
    let subject = if STRING_FIELDS.contains(&field) && rng.one_in(4) {
        format!("{}({field})", rng.pick(&["tolower", "toupper"]))
    } else {
        field.to_owned()
    };
    format!("{subject} {op} {}", literal_for(field, rng))
}

fn condition(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => {
            let function = rng.pick(&["startswith", "endswith", "contains"]);
            format!(
                "{function}({},{})",
                rng.pick(STRING_FIELDS),
                string_literal(rng)
            )
        }
        1 => {
            let collection = rng.pick(&["rbacGroupNames", "rbacGroupIds"]);
            let value = if *collection == "rbacGroupIds" {
                number_literal(rng)
            } else {
                string_literal(rng)
            };
            format!("{collection}/any(g: g {} {value})", rng.pick(&["eq", "ne"]))
        }
        2 => {
            let field = rng.pick(STRING_FIELDS);
            let items: Vec<String> = (0..1 + rng.below(4)).map(|_| string_literal(rng)).collect();
            format!("{field} in ({})", items.join(","))
        }
        _ => comparison(rng),
    }
}

fn expression(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.one_in(3) {
        return condition(rng);
    }
    match rng.below(4) {
        0 => format!("not ({})", expression(rng, depth - 1)),
        1 => format!("({})", expression(rng, depth - 1)),
        _ => format!(
            "{} {} {}",
            expression(rng, depth - 1),
            rng.pick(&["and", "or"]),
            expression(rng, depth - 1)
        ),
    }
}

/// A `$filter` expression over any field of either entity.
pub(super) fn filter(rng: &mut Rng) -> Vec<u8> {
    let depth = rng.below(5);
    expression(rng, depth).into_bytes()
}

/// An `$orderby` list of one to five keys.
pub(super) fn order_by(rng: &mut Rng) -> Vec<u8> {
    let keys: Vec<String> = (0..1 + rng.below(5))
        .map(|_| {
            let direction = rng.pick(&["", " asc", " desc", " DESC"]);
            format!("{}{direction}", any_field(rng))
        })
        .collect();
    keys.join(",").into_bytes()
}

fn two_digits(rng: &mut Rng, most: usize) -> String {
    format!("{:02}", rng.below(most + 1))
}

/// A date or date-time in one of the forms clients write, with components at and past their
/// edges.
pub(super) fn timestamp(rng: &mut Rng) -> Vec<u8> {
    let year = match rng.below(4) {
        0 => *rng.pick(&[0, 1, 1969, 1970, 2038, 9999]),
        _ => 1900 + rng.below(200),
    };
    let mut text = format!("{year:04}-{}-{}", two_digits(rng, 13), two_digits(rng, 32));
    if rng.one_in(5) {
        if rng.one_in(2) {
            text.push('Z');
        }
        return text.into_bytes();
    }
    text.push(*rng.pick(&['T', 't', ' ']));
    text.push_str(&format!(
        "{}:{}:{}",
        two_digits(rng, 24),
        two_digits(rng, 60),
        two_digits(rng, 60)
    ));
    if rng.one_in(2) {
        text.push('.');
        for _ in 0..1 + rng.below(12) {
            text.push(char::from(b'0' + rng.below(10) as u8));
        }
    }
    match rng.below(5) {
        0 => {}
        1 => text.push('Z'),
        2 => text.push_str(&format!(
            "{}{}:{}",
            rng.pick(&["+", "-"]),
            two_digits(rng, 24),
            two_digits(rng, 60)
        )),
        3 => text.push_str(&format!(
            "{}{}{}",
            rng.pick(&["+", "-"]),
            two_digits(rng, 24),
            two_digits(rng, 60)
        )),
        _ => text.push_str(&format!("{}{}", rng.pick(&["+", "-"]), two_digits(rng, 24))),
    }
    text.into_bytes()
}
