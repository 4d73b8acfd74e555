//! The two readers of MDE events agree: `extract` over a parsed JSON tree (what the API uses)
//! and `extract_mde_line` over the raw line (what `iocd scan` uses), on a generated corpus of
//! events whose fields are present or not, valid or not, padded, empty, or of another JSON
//! type, among fields matching does not read.

use iocd_model::Timestamp;
use iocd_service::events::{EventProfile, extract, extract_mde_line};
use serde_json::{Map, Value, json};

/// xorshift64: deterministic cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Each field matching reads, with values for it: valid, oddly written and invalid ones.
fn fields() -> Vec<(&'static str, Vec<Value>)> {
    let hashes = |valid: &str| {
        vec![
            json!(valid),
            json!(valid.to_uppercase()),
            json!(format!(" {valid} ")),
            json!(&valid[1..]),
            json!("zz"),
        ]
    };
    vec![
        ("DeviceId", vec![json!("d1"), json!("  d2 "), json!("")]),
        ("DeviceName", vec![json!("pc1.corp"), json!("PC2")]),
        ("MachineGroup", vec![json!("Finance"), json!("")]),
        (
            "Timestamp",
            vec![
                json!("2026-03-01T10:00:00Z"),
                json!("2026-03-01T10:00:00.1234567Z"),
                json!("yesterday"),
                json!("2026-03-01T10:00:00€"),
            ],
        ),
        ("SHA256", hashes(SHA256)),
        ("SHA1", hashes(SHA1)),
        ("MD5", hashes(MD5)),
        ("SignerHash", hashes(SHA1)),
        ("InitiatingProcessSHA256", hashes(SHA256)),
        ("InitiatingProcessSHA1", hashes(SHA1)),
        ("InitiatingProcessMD5", hashes(MD5)),
        (
            "RemoteIP",
            vec![
                json!("198.51.100.7"),
                json!("::ffff:198.51.100.7"),
                json!("[2001:db8::1]"),
                json!("300.1.1.1"),
            ],
        ),
        ("FileOriginIP", vec![json!("203.0.113.9"), json!("nope")]),
        (
            "RemoteUrl",
            vec![
                json!("https://a.evil.example/x?q=1"),
                json!("a.evil.example"),
                json!("a.evil.example/path"),
                json!("HTTP://A.Evil.Example:8080/"),
                json!("http://"),
                json!("ftp://x.example/"),
                json!("bücher.example"),
            ],
        ),
        (
            "FileOriginUrl",
            vec![json!("http://dl.example/setup.exe"), json!("dl.example")],
        ),
    ]
}

/// Values of another JSON type than the string a field holds.
fn odd_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(7),
        json!(-1.5),
        json!(true),
        json!([]),
        json!(["x"]),
        json!({}),
        json!({"a": [1, {"b": null}]}),
    ]
}

fn event(rng: &mut Rng, fields: &[(&'static str, Vec<Value>)]) -> Map<String, Value> {
    let mut event = Map::new();
    for (name, values) in fields {
        if !rng.chance(40) {
            continue;
        }
        let value = if rng.chance(10) {
            rng.pick(&odd_values()).clone()
        } else {
            rng.pick(values).clone()
        };
        event.insert((*name).to_owned(), value);
    }
    if rng.chance(50) {
        event.insert("ActionType".into(), json!("ConnectionSuccess"));
        event.insert("ReportId".into(), json!(rng.next() % 1000));
        event.insert("AdditionalFields".into(), json!({"x": [1, 2]}));
    }
    event
}

#[test]
fn the_tree_and_the_line_readers_agree() {
    let now = Timestamp::parse("2026-03-02T00:00:00Z").expect("now");
    let fields = fields();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let event = Value::Object(event(&mut rng, &fields));
        let line = event.to_string();
        let from_tree = extract(EventProfile::Mde, &event, now);
        let from_line = extract_mde_line(line.as_bytes(), now);
        match (&from_tree, &from_line) {
            (Ok(tree), Ok(line_event)) => {
                assert_eq!(tree, line_event, "{line}");
                accepted += 1;
            }
            (Err(tree), Err(line_error)) => {
                assert_eq!(tree, line_error, "{line}");
                refused += 1;
            }
            _ => {
                panic!("{line}: the tree reader gave {from_tree:?}, the line reader {from_line:?}")
            }
        }
    }
    // The corpus exercises both outcomes.
    assert!(
        accepted > 5_000 && refused > 500,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn lines_that_are_not_objects_are_refused_by_both() {
    let now = Timestamp::parse("2026-03-02T00:00:00Z").expect("now");
    for line in ["[1]", "\"x\"", "7", "null", "{", "{\"DeviceId\": \"d\""] {
        assert!(extract_mde_line(line.as_bytes(), now).is_err(), "{line}");
        if let Ok(value) = serde_json::from_str::<Value>(line) {
            assert!(extract(EventProfile::Mde, &value, now).is_err(), "{line}");
        }
    }
}
