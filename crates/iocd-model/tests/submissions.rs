//! Table-driven validation tests: every case in `submissions.toml` is one submission and the
//! spec or error it must produce.

use iocd_model::{
    IndicatorSpec, IndicatorSubmission, Timestamp, ValidationOptions, validate_submission,
};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Table {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    input: serde_json::Value,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    expect: BTreeMap<String, String>,
    expect_error: Option<String>,
    expect_field: Option<String>,
    /// Replaces the title with this many `x` characters (long inputs stay out of the table).
    title_repeat: Option<usize>,
    /// Sets `rbacGroupNames` to this many names: `distinct` ones (`g0`, `g1`, ...) or the same
    /// one repeated.
    group_names: Option<usize>,
    #[serde(default)]
    distinct: bool,
}

fn field(spec: &IndicatorSpec, name: &str) -> String {
    match name {
        "indicator_value" => spec.value.to_string(),
        "indicator_type" => spec.indicator_type().to_string(),
        "look_back_period" => spec
            .look_back_period
            .map(|p| p.to_string())
            .unwrap_or_default(),
        "certificate_info" => spec
            .certificate_info
            .clone()
            .map(|info| serde_json::Value::Object(info).to_string())
            .unwrap_or_default(),
        "action" => spec.action.to_string(),
        "severity" => spec.severity.to_string(),
        "category" => spec.category.number().to_string(),
        "generate_alert" => spec.generate_alert.to_string(),
        "expiration_time" => spec
            .expiration_time
            .map(|t| t.to_mde_seconds())
            .unwrap_or_default(),
        "mitre_techniques" => spec.mitre_techniques.join(","),
        "rbac_group_names" => spec.rbac_group_names.join(","),
        "educate_url" => spec.educate_url.clone().unwrap_or_default(),
        other => panic!("the test table names an unknown field {other}"),
    }
}

#[test]
fn submissions_table() {
    let table: Table =
        toml::from_str(include_str!("submissions.toml")).expect("submissions.toml parses");
    let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    assert!(table.case.len() >= 25);
    for case in &table.case {
        let mut input = case.input.clone();
        if let Some(n) = case.title_repeat {
            input["title"] = serde_json::Value::String("x".repeat(n));
        }
        if let Some(n) = case.group_names {
            let names: Vec<String> = (0..n)
                .map(|i| {
                    if case.distinct {
                        format!("g{i}")
                    } else {
                        "g".to_owned()
                    }
                })
                .collect();
            input["rbacGroupNames"] = serde_json::json!(names);
        }
        let submission: IndicatorSubmission = serde_json::from_value(input).unwrap();
        let options = match case.source.as_deref() {
            Some("csv") => ValidationOptions::csv(now, case.strict),
            _ => ValidationOptions::json(now, case.strict),
        };
        let result = validate_submission(&submission, &options);
        match (&case.expect_error, result) {
            (Some(code), Err(error)) => {
                assert_eq!(
                    error.code.as_str(),
                    code,
                    "{}: {}",
                    case.name,
                    error.message
                );
                if let Some(field) = &case.expect_field {
                    assert_eq!(error.field, field, "{}", case.name);
                }
            }
            (None, Ok(spec)) => {
                for (name, want) in &case.expect {
                    assert_eq!(&field(&spec, name), want, "{}: field {name}", case.name);
                }
            }
            (Some(code), Ok(spec)) => panic!("{}: expected {code}, got {spec:?}", case.name),
            (None, Err(error)) => panic!("{}: unexpected error {error:?}", case.name),
        }
    }
}
