//! `POST /api/indicators/convert` (iocd extension): reads a STIX 2.1 document, a MISP event or
//! a plain list and answers the indicator submissions it holds, the removals it asks for and
//! every item it could not use, without storing anything. The console previews an import with
//! it and then submits the items through the bulk endpoint, as `iocd import` does.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::odata::Json;
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::indicators::{ConvertProblem, ConvertResponse, ConvertedItem, ConvertedRemoval};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use iocd_interop::ImportDefaults;
use iocd_interop::document::{self, DocumentError};
use iocd_model::{Action, ErrorCode, Severity};

/// `POST /api/indicators/convert`.
#[utoipa::path(post, path = "/api/indicators/convert", tag = "indicators",
    params(
        ("action" = Option<String>, Query, description = "Action of items the document gives none (default Audit)"),
        ("severity" = Option<String>, Query, description = "Severity of items the document gives none (default Medium)"),
        ("name" = Option<String>, Query, description = "The file's name, used in a list's titles"),
    ),
    request_body(description = "A STIX 2.1 bundle or objects, a MISP event, or one value per line",
        content((Object = "application/json"), (String = "text/plain"))),
    responses((status = 200, body = ConvertResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 413, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn convert(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConvertResponse>, ApiError> {
    // Converting stores nothing, but it is the first half of an import: the same role.
    principal.write_visibility()?;
    state.check_rate(&principal, Operation::Bulk)?;
    let body = body.map_err(|rejection| match rejection.status() {
        _ if crate::body_timeout::is_stalled(&rejection) => ApiError::body_stalled(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The document is larger than max_json_body_bytes ({} bytes); import it with `iocd import`.",
                state.config().max_json_body_bytes
            ),
        ),
        _ => ApiError::bad_body(format!(
            "The request body could not be read: {}",
            rejection.body_text()
        )),
    })?;
    let (defaults, name) = defaults_from_query(raw.as_deref().unwrap_or_default())?;
    let (format, batch) =
        tokio::task::spawn_blocking(move || document::read(&body, &name, &defaults))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|error| match error {
                DocumentError::MdeCsv => {
                    ApiError::new(ErrorCode::UnsupportedMediaType, error.to_string())
                }
                other => ApiError::bad_body(format!("{}.", capitalised(&other.to_string()))),
            })?;
    Ok(Json(ConvertResponse {
        format: format.as_str().to_owned(),
        value: batch
            .items
            .into_iter()
            .map(|item| ConvertedItem {
                origin: item.origin,
                indicator: item.submission,
            })
            .collect(),
        removals: batch
            .removals
            .into_iter()
            .map(|removal| ConvertedRemoval {
                origin: removal.origin,
                indicator_type: removal.indicator_type.as_str().to_owned(),
                indicator_value: removal.value,
            })
            .collect(),
        problems: batch
            .problems
            .into_iter()
            .map(|problem| ConvertProblem {
                origin: problem.origin,
                reason: problem.reason,
            })
            .collect(),
    }))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The defaults (`action`, `severity`) and the list's `name` from the query string.
fn defaults_from_query(raw: &str) -> Result<(ImportDefaults, String), ApiError> {
    let mut defaults = ImportDefaults::default();
    let mut name = "list".to_owned();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "action" => {
                defaults.action = Action::parse(&value).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidInput,
                        format!(
                            "action={value} is not one of: {}.",
                            Action::possible_values()
                        ),
                    )
                })?;
            }
            "severity" => {
                defaults.severity = Severity::parse(&value).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidInput,
                        format!(
                            "severity={value} is not one of: {}.",
                            Severity::possible_values()
                        ),
                    )
                })?;
            }
            "name" => name = value.chars().take(200).collect(),
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("Unknown query parameter {other}; supported: action, severity, name."),
                ));
            }
        }
    }
    Ok((defaults, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_sets_the_defaults_or_is_refused() {
        let (defaults, name) =
            defaults_from_query("action=block&severity=High&name=bad.txt").expect("valid query");
        assert_eq!(
            (defaults.action, defaults.severity, name.as_str()),
            (Action::Block, Severity::High, "bad.txt")
        );
        let (defaults, name) = defaults_from_query("").expect("empty query");
        assert_eq!(
            (defaults.action, defaults.severity, name.as_str()),
            (Action::Audit, Severity::Medium, "list")
        );
        for (query, reason) in [
            ("action=Explode", "action=Explode"),
            ("severity=dire", "severity=dire"),
            ("colour=red", "Unknown query parameter colour"),
        ] {
            let error = defaults_from_query(query).expect_err(query);
            assert!(error.message.contains(reason), "{query}: {}", error.message);
        }
    }
}
