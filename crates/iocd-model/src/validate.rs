//! Validation of submissions: the rules every path into the store (JSON, import, CSV, NDJSON)
//! applies, turning an [`IndicatorSubmission`] into a trusted [`IndicatorSpec`].

use crate::enums::LegacyAction;
use crate::{
    Action, Category, ErrorCode, IndicatorSpec, IndicatorSubmission, IndicatorType, IndicatorValue,
    LookBackPeriod, Severity, Timestamp, ValidationError,
};
use serde_json::Value;

/// Where a submission came from; CSV follows MDE's stricter portal importer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionSource {
    Json,
    Csv,
}

/// Maximum lengths and counts (MDE publishes none; see `docs/decisions/0004-limits.md`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_title_len: usize,
    pub max_text_len: usize,
    pub max_short_text_len: usize,
    pub max_list_items: usize,
    /// The shortest IPv4 network prefix accepted: a shorter one would act on a large part of
    /// the Internet (`0.0.0.0/0` on all of it) at one writer's word.
    pub min_ipv4_prefix: u8,
    /// The shortest IPv6 network prefix accepted.
    pub min_ipv6_prefix: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_title_len: 1024,
            max_text_len: 10_000,
            max_short_text_len: 256,
            max_list_items: 100,
            min_ipv4_prefix: 8,
            min_ipv6_prefix: 16,
        }
    }
}

/// How strictly to validate.
#[derive(Debug, Clone, Copy)]
pub struct ValidationOptions {
    /// The current time; an `expirationTime` before it is refused.
    pub now: Timestamp,
    /// `true` turns off every iocd extension and behaves exactly like MDE.
    pub strict: bool,
    pub source: SubmissionSource,
    pub limits: Limits,
}

impl ValidationOptions {
    pub fn json(now: Timestamp, strict: bool) -> Self {
        ValidationOptions {
            now,
            strict,
            source: SubmissionSource::Json,
            limits: Limits::default(),
        }
    }

    pub fn csv(now: Timestamp, strict: bool) -> Self {
        ValidationOptions {
            source: SubmissionSource::Csv,
            ..Self::json(now, strict)
        }
    }
}

/// Validates and normalises a submission. The first problem found is returned.
pub fn validate_submission(
    submission: &IndicatorSubmission,
    options: &ValidationOptions,
) -> Result<IndicatorSpec, ValidationError> {
    let limits = options.limits;
    let type_text = required_text(&submission.indicator_type, "indicatorType")?;
    let indicator_type = IndicatorType::parse(&type_text).ok_or_else(|| {
        ValidationError::invalid(
            "indicatorType",
            format!(
                "Indicator type {type_text} is invalid. Possible values: {}.",
                IndicatorType::possible_values()
            ),
        )
    })?;
    if options.source == SubmissionSource::Csv
        && options.strict
        && !indicator_type.mde_csv_accepts()
    {
        return Err(ValidationError::invalid(
            "indicatorType",
            format!(
                "Indicator type {indicator_type} cannot be imported from CSV in strict MDE mode."
            ),
        ));
    }
    let raw_value = required_text(&submission.indicator_value, "indicatorValue")?;
    let value = IndicatorValue::parse(indicator_type, &raw_value, !options.strict)?;
    if let IndicatorValue::IpAddress(network) = &value {
        check_prefix(network, &limits)?;
    }

    let action_text = required_text(&submission.action, "action")?;
    let mut generate_alert =
        optional_bool(&submission.generate_alert, "generateAlert")?.unwrap_or(false);
    let action = match (
        Action::parse(&action_text),
        LegacyAction::parse(&action_text),
    ) {
        (Some(action), _) => action,
        (None, Some(legacy)) if options.source == SubmissionSource::Json => {
            generate_alert = true;
            legacy.modern_action(indicator_type)
        }
        _ => {
            return Err(ValidationError::invalid(
                "action",
                format!(
                    "Error in parsing field Action, value: {action_text}. Possible values: {}",
                    csv_action_list()
                ),
            ));
        }
    };
    if !action.allowed_for(indicator_type) {
        return Err(ValidationError::invalid(
            "action",
            format!("Action {action} is not supported for indicator type {indicator_type}."),
        ));
    }
    if action == Action::Audit && !generate_alert {
        return Err(ValidationError::invalid(
            "generateAlert",
            "Action Audit requires generateAlert to be true.",
        ));
    }

    let title = required_text(&submission.title, "title")?;
    if title.trim().is_empty() {
        return Err(ValidationError::missing("title"));
    }
    check_len(&title, "title", limits.max_title_len)?;
    let description = required_text(&submission.description, "description")?;
    check_len(&description, "description", limits.max_text_len)?;

    let expiration_time = match optional_text(&submission.expiration_time, "expirationTime")? {
        None => None,
        Some(text) => {
            let parsed = Timestamp::parse(&text).ok_or_else(|| {
                ValidationError::invalid(
                    "expirationTime",
                    format!("Expiration time {text} is not a valid ISO 8601 date-time."),
                )
            })?;
            let parsed = parsed.truncated_to_second();
            if parsed <= options.now {
                return Err(ValidationError::invalid(
                    "expirationTime",
                    format!("Expiration time {text} is in the past."),
                ));
            }
            Some(parsed)
        }
    };
    let severity = match optional_text(&submission.severity, "severity")? {
        None => Severity::Informational,
        Some(text) => Severity::parse(&text).ok_or_else(|| {
            ValidationError::invalid(
                "severity",
                format!(
                    "Severity {text} is invalid. Possible values: {}.",
                    Severity::possible_values()
                ),
            )
        })?,
    };
    let category = match &submission.category {
        None => Category::default(),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(Category::from_number)
            .ok_or_else(|| bad_category(&n.to_string()))?,
        Some(Value::String(s)) if s.is_empty() => Category::default(),
        Some(Value::String(s)) => Category::from_name(s)
            .or_else(|| s.parse::<i64>().ok().and_then(Category::from_number))
            .ok_or_else(|| bad_category(s))?,
        Some(other) => return Err(bad_category(&other.to_string())),
    };

    let educate_url = optional_text(&submission.educate_url, "educateUrl")?;
    if let Some(url) = &educate_url {
        check_len(url, "educateUrl", 2048)?;
        crate::CanonicalUrl::parse(url).map_err(|e| {
            ValidationError::new(
                ErrorCode::InvalidUrl,
                "educateUrl",
                format!("URL {url} is invalid: {e}."),
            )
        })?;
    }
    let rbac_group_names = string_list(&submission.rbac_group_names, "rbacGroupNames", &limits)?;
    let rbac_group_ids = id_list(&submission.rbac_group_ids, "rbacGroupIds", &limits)?;
    let mut mitre_techniques =
        string_list(&submission.mitre_techniques, "mitreTechniques", &limits)?;
    for technique in &mut mitre_techniques {
        *technique = technique.to_ascii_uppercase();
        if !is_mitre_technique(technique) {
            return Err(ValidationError::invalid(
                "mitreTechniques",
                format!(
                    "MITRE technique {technique} is invalid: expected an ATT&CK id like T1046 or T1059.001."
                ),
            ));
        }
    }
    let bypass_duration_hours = match &submission.bypass_duration_hours {
        None => None,
        Some(value) => Some(
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .filter(|h| (0..=87_600).contains(h))
                .ok_or_else(|| {
                    ValidationError::invalid(
                        "bypassDurationHours",
                        "bypassDurationHours must be a whole number of hours from 0 to 87600.",
                    )
                })?,
        ),
    };

    let short =
        |value: &Option<Value>, field: &'static str| -> Result<Option<String>, ValidationError> {
            let text = optional_text(value, field)?;
            if let Some(t) = &text {
                check_len(t, field, limits.max_short_text_len)?;
            }
            Ok(text)
        };
    let long =
        |value: &Option<Value>, field: &'static str| -> Result<Option<String>, ValidationError> {
            let text = optional_text(value, field)?;
            if let Some(t) = &text {
                check_len(t, field, limits.max_text_len)?;
            }
            Ok(text)
        };

    Ok(IndicatorSpec {
        value,
        action,
        title,
        description,
        application: short(&submission.application, "application")?,
        expiration_time,
        severity,
        recommended_actions: long(&submission.recommended_actions, "recommendedActions")?,
        rbac_group_names,
        rbac_group_ids,
        generate_alert,
        educate_url,
        external_id: short(&submission.external_id, "externalId")?,
        category,
        mitre_techniques,
        bypass_duration_hours,
        notification_id: short(&submission.notification_id, "notificationId")?,
        notification_body: long(&submission.notification_body, "notificationBody")?,
        version: short(&submission.version, "version")?,
        certificate_info: certificate_info(&submission.certificate_info, limits.max_text_len)?,
        historical_detection: optional_bool(
            &submission.historical_detection,
            "historicalDetection",
        )?
        .unwrap_or(false),
        look_back_period: look_back_period(&submission.look_back_period)?,
        additional_info: long(&submission.additional_info, "additionalInfo")?,
    })
}

/// Refuses a network whose prefix is shorter than the limits allow.
fn check_prefix(network: &crate::IpNetwork, limits: &Limits) -> Result<(), ValidationError> {
    let (shortest, setting) = if network.address.is_ipv4() {
        (limits.min_ipv4_prefix, "min_ipv4_prefix")
    } else {
        (limits.min_ipv6_prefix, "min_ipv6_prefix")
    };
    let prefix = network.prefix_len_or_full();
    if prefix < shortest {
        return Err(ValidationError::new(
            ErrorCode::InvalidIpAddress,
            "indicatorValue",
            format!(
                "IP address {network} is refused: a /{prefix} network covers too much; the shortest prefix accepted is /{shortest} (setting {setting})."
            ),
        ));
    }
    Ok(())
}

fn csv_action_list() -> &'static str {
    "Allowed,Audit,BlockAndRemediate,Warn,Block"
}

fn bad_category(text: &str) -> ValidationError {
    ValidationError::invalid(
        "category",
        format!(
            "Category {text} is invalid. Possible values: {} (or their numbers 1 to 18).",
            Category::possible_names()
        ),
    )
}

fn is_mitre_technique(text: &str) -> bool {
    let b = text.as_bytes();
    let four_digits = |s: &[u8]| s.len() == 4 && s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && four_digits(&b[1..5]),
        9 => {
            b[0] == b'T'
                && four_digits(&b[1..5])
                && b[5] == b'.'
                && b[6..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn check_len(text: &str, field: &'static str, max: usize) -> Result<(), ValidationError> {
    let len = text.chars().count();
    if len > max {
        return Err(ValidationError::invalid(
            field,
            format!("{field} is {len} characters long; the maximum is {max}."),
        ));
    }
    Ok(())
}

fn wrong_type(field: &'static str, expected: &str) -> ValidationError {
    ValidationError::new(
        ErrorCode::InvalidRequestBody,
        field,
        format!("Parameter {field} must be {expected}."),
    )
}

fn required_text(value: &Option<Value>, field: &'static str) -> Result<String, ValidationError> {
    optional_text(value, field)?.ok_or_else(|| ValidationError::missing(field))
}

fn optional_text(
    value: &Option<Value>,
    field: &'static str,
) -> Result<Option<String>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_no_nul(s, field)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// Refuses text with a NUL character: no caller means one, and PostgreSQL cannot store it in a
/// text column, so both stores refuse it alike.
fn check_no_nul(text: &str, field: &'static str) -> Result<(), ValidationError> {
    if text.contains('\0') {
        return Err(ValidationError::invalid(
            field,
            format!("{field} contains a NUL character (U+0000), which iocd does not store."),
        ));
    }
    Ok(())
}

fn optional_bool(
    value: &Option<Value>,
    field: &'static str,
) -> Result<Option<bool>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(_) => Err(wrong_type(field, "true or false")),
    }
}

/// A list of strings: a JSON array, or one comma-separated string (as MDE's docs describe
/// `rbacGroupNames` and as CSV cells carry lists). Items are trimmed; empty and repeated items
/// are dropped. The count is checked before any other work, so a huge list costs one pass.
fn string_list(
    value: &Option<Value>,
    field: &'static str,
    limits: &Limits,
) -> Result<Vec<String>, ValidationError> {
    let items: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            check_no_nul(s, field)?;
            s.split(',').collect()
        }
        Some(Value::Array(values)) => {
            let mut items = Vec::with_capacity(values.len().min(limits.max_list_items + 1));
            for v in values {
                match v {
                    Value::String(s) => {
                        check_no_nul(s, field)?;
                        items.push(s.as_str())
                    }
                    _ => return Err(wrong_type(field, "an array of strings")),
                }
            }
            items
        }
        Some(_) => return Err(wrong_type(field, "an array of strings")),
    };
    let given = items.iter().filter(|item| !item.trim().is_empty()).count();
    if given > limits.max_list_items {
        return Err(ValidationError::invalid(
            field,
            format!(
                "{field} has {given} items; the maximum is {}.",
                limits.max_list_items
            ),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(given);
    let mut out: Vec<String> = Vec::with_capacity(given);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        check_len(item, field, limits.max_short_text_len)?;
        if seen.insert(item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

fn id_list(
    value: &Option<Value>,
    field: &'static str,
    limits: &Limits,
) -> Result<Vec<i64>, ValidationError> {
    let values = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(values)) => values,
        Some(_) => return Err(wrong_type(field, "an array of device group ids")),
    };
    if values.len() > limits.max_list_items {
        return Err(ValidationError::invalid(
            field,
            format!(
                "{field} has too many items; the maximum is {}.",
                limits.max_list_items
            ),
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let id = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| wrong_type(field, "an array of device group ids"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `certificateInfo`: a JSON object (MDE documents no schema), kept as given.
fn certificate_info(
    value: &Option<Value>,
    max_len: usize,
) -> Result<Option<serde_json::Map<String, Value>>, ValidationError> {
    let field = "certificateInfo";
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => {
            let len = Value::Object(map.clone()).to_string().len();
            if len > max_len {
                return Err(ValidationError::invalid(
                    field,
                    format!("{field} is {len} bytes long; the maximum is {max_len}."),
                ));
            }
            Ok(Some(map.clone()))
        }
        Some(_) => Err(wrong_type(field, "a JSON object")),
    }
}

/// `lookBackPeriod`: a duration in one of the spellings [`LookBackPeriod::from_json`] reads.
fn look_back_period(value: &Option<Value>) -> Result<Option<LookBackPeriod>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(v) => LookBackPeriod::from_json(v).map(Some).ok_or_else(|| {
            ValidationError::invalid(
                "lookBackPeriod",
                format!(
                    "lookBackPeriod {v} is not a duration of at most ten years: give an ISO 8601 duration (P30D), a .NET time span (30.00:00:00) or a number of days."
                ),
            )
        }),
    }
}
