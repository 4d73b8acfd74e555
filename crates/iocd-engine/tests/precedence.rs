//! Runs the precedence table in `precedence.toml` through a freshly built set and through the
//! live overlay path, which must agree.

use iocd_engine::{
    Change, DetectorVerdict, Device, EngineIndicator, FileHashes, LiveMatcher, Observable,
    ObservableKind, Snapshot, Verdict, build_set, compile, investigate,
};
use iocd_model::{Action, IndicatorType, IndicatorValue, Timestamp};
use serde::Deserialize;

#[derive(Deserialize)]
struct Table {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    observable: ObservableRow,
    indicators: Vec<IndicatorRow>,
    action: String,
    #[serde(default)]
    winner: i64,
    rule: Option<String>,
    #[serde(default)]
    matched: Vec<i64>,
    blocks: Option<bool>,
    alert: Option<bool>,
    detector: Option<String>,
    investigation: Option<String>,
}

#[derive(Deserialize)]
struct ObservableRow {
    #[serde(rename = "type")]
    kind: String,
    value: Option<String>,
    sha256: Option<String>,
    sha1: Option<String>,
    md5: Option<String>,
    certificate: Option<String>,
}

#[derive(Deserialize)]
struct IndicatorRow {
    id: i64,
    #[serde(rename = "type")]
    indicator_type: String,
    value: String,
    action: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    generate_alert: bool,
    expires_in: Option<i64>,
}

/// Expands the one-letter hash shorthand of the table to a full-length hex value.
fn expand(value: &str, hex_len: usize) -> String {
    if value.len() == 1 {
        value.repeat(hex_len)
    } else {
        value.to_owned()
    }
}

fn hex_len(indicator_type: IndicatorType) -> usize {
    match indicator_type {
        IndicatorType::FileSha256 => 64,
        IndicatorType::FileMd5 => 32,
        _ => 40,
    }
}

fn observable(row: &ObservableRow) -> Observable {
    if row.kind == "File" {
        let hashes =
            FileHashes {
                sha256: row.sha256.as_ref().map(|v| {
                    iocd_engine::observable::parse_hex::<32>("sha256", &expand(v, 64)).unwrap()
                }),
                sha1: row.sha1.as_ref().map(|v| {
                    iocd_engine::observable::parse_hex::<20>("sha1", &expand(v, 40)).unwrap()
                }),
                md5: row.md5.as_ref().map(|v| {
                    iocd_engine::observable::parse_hex::<16>("md5", &expand(v, 32)).unwrap()
                }),
                certificate: row
                    .certificate
                    .as_ref()
                    .map(|v| iocd_engine::observable::parse_thumbprint(&expand(v, 40)).unwrap()),
            };
        return Observable::File(hashes);
    }
    let kind = ObservableKind::parse(&row.kind).expect("observable type");
    let indicator_type = IndicatorType::parse(&row.kind).expect("type");
    let value = row.value.as_deref().expect("value");
    let value = if indicator_type.is_file_like() {
        expand(value, hex_len(indicator_type))
    } else {
        value.to_owned()
    };
    Observable::parse(kind, &value).expect("observable parses")
}

fn indicators(case: &Case, now: Timestamp) -> Vec<EngineIndicator> {
    case.indicators
        .iter()
        .map(|row| {
            let indicator_type = IndicatorType::parse(&row.indicator_type).expect("type");
            let value = if indicator_type.is_file_like() {
                expand(&row.value, hex_len(indicator_type))
            } else {
                row.value.clone()
            };
            EngineIndicator {
                id: row.id,
                value: IndicatorValue::parse(indicator_type, &value, true).expect("a valid value"),
                action: Action::parse(&row.action).expect("action"),
                groups: row.groups.clone(),
                expires: row.expires_in.map(|s| now.plus_seconds(s)),
                generate_alert: row.generate_alert,
            }
        })
        .collect()
}

fn check(case: &Case, verdict: &Verdict, path: &str) {
    let context = format!("case {:?} ({path})", case.name);
    let action = verdict.action().map_or("none", Action::as_str);
    assert_eq!(action, case.action, "{context}: action");
    if case.action == "none" {
        assert!(verdict.matched.is_empty(), "{context}: nothing matches");
    } else {
        assert_eq!(
            verdict.winner().map(|w| w.id),
            Some(case.winner),
            "{context}: winner"
        );
        assert_eq!(
            verdict.rule.map(|r| r.as_str()),
            case.rule.as_deref(),
            "{context}: rule"
        );
        let matched: Vec<i64> = verdict.matched.iter().map(|c| c.id).collect();
        assert_eq!(matched, case.matched, "{context}: matched");
    }
    if let Some(blocks) = case.blocks {
        assert_eq!(verdict.blocks(), blocks, "{context}: blocks");
    }
    if let Some(alert) = case.alert {
        assert_eq!(verdict.raises_alert(), alert, "{context}: alert");
    }
    if let Some(detector) = &case.detector {
        let detector = DetectorVerdict::parse(detector).expect("detector verdict");
        let expected = case.investigation.as_deref().expect("investigation");
        assert_eq!(
            investigate(detector, verdict.action()).as_str(),
            expected,
            "{context}: investigation"
        );
    }
}

#[test]
fn precedence_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/precedence.toml"
    ))
    .expect("table");
    let table: Table = toml::from_str(&text).expect("table parses");
    assert!(table.case.len() >= 40, "the table has its cases");
    let now = Timestamp::from_unix_seconds(1_800_000_000);
    for case in &table.case {
        let device = Device::new(&case.groups);
        let observable = observable(&case.observable);
        let indicators = indicators(case, now);

        let set = build_set(&indicators);
        check(
            case,
            &Snapshot::of(set).evaluate(&observable, &device, now),
            "built set",
        );

        // The same indicators arriving as live writes on top of an empty base.
        let mut live = LiveMatcher::default();
        live.apply(indicators.iter().map(|i| Change::Upsert(compile(i))));
        check(
            case,
            &live.snapshot().evaluate(&observable, &device, now),
            "overlay",
        );

        // And after a merge into the base.
        let plan = live.merge_plan();
        live.install(plan.build(now));
        assert_eq!(live.pending(), 0);
        check(
            case,
            &live.snapshot().evaluate(&observable, &device, now),
            "merged",
        );
    }
}
