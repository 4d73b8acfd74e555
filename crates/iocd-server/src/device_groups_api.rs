//! `/api/deviceGroups`: the tenant's device groups (an iocd extension; MDE defines them in its
//! portal). Read with any indicator role, managed with `Ti.ReadWrite.All`.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::odata::{OData, base_url};
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::device_groups::{
    DeviceGroupEntity, DeviceGroupList, DeviceGroupPatch, DeviceGroupRequest, DeviceGroupResponse,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use iocd_model::ErrorCode;
use iocd_store::Visibility;
use iocd_store::device_groups::{GroupConflict, GroupRules, GroupSpec};

const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RULE_VALUES: usize = 100;

fn response(state: &AppState, group: DeviceGroupEntity) -> DeviceGroupResponse {
    DeviceGroupResponse {
        context: format!("{}/api/$metadata#DeviceGroups/$entity", base_url(state)),
        group,
    }
}

/// Managing groups needs `Ti.ReadWrite.All`.
fn require_manage(principal: &Principal) -> Result<(), ApiError> {
    match principal.write_visibility()? {
        Visibility::All => Ok(()),
        Visibility::CreatedBy(_) => Err(ApiError::forbidden(
            "Managing device groups needs the Ti.ReadWrite.All role.",
        )),
    }
}

fn parse_group_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::not_found(format!("device group {text}")))
}

/// Checks a group's fields, returning them as the store takes them.
fn checked(
    name: &str,
    description: &str,
    rank: Option<i64>,
    rules: GroupRules,
) -> Result<GroupSpec, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidInput, message);
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid(format!(
            "name: a device group's name has 1 to {MAX_NAME} characters."
        )));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(format!(
            "description: at most {MAX_DESCRIPTION} characters."
        )));
    }
    if rank.is_some_and(|rank| !(0..=1_000_000).contains(&rank)) {
        return Err(invalid("rank: a number from 0 to 1,000,000.".into()));
    }
    for (kind, values) in [
        ("nameStartsWith", &rules.name_starts_with),
        ("domain", &rules.domain),
        ("os", &rules.os),
        ("tags", &rules.tags),
    ] {
        if values.len() > MAX_RULE_VALUES
            || values
                .iter()
                .any(|v| v.trim().is_empty() || v.chars().count() > MAX_NAME)
        {
            return Err(invalid(format!(
                "rules.{kind}: at most {MAX_RULE_VALUES} values of 1 to {MAX_NAME} characters."
            )));
        }
    }
    Ok(GroupSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        rank,
        rules,
    })
}

fn conflict(conflict: GroupConflict, id: Option<i64>) -> ApiError {
    match conflict {
        GroupConflict::NameTaken(name) => ApiError::new(
            ErrorCode::Conflict,
            format!("A device group named {name} exists."),
        ),
        GroupConflict::NotFound => {
            ApiError::not_found(format!("device group {}", id.unwrap_or_default()))
        }
        GroupConflict::InUse(count) => ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{count} indicators are scoped to this device group; change or delete them first."
            ),
        ),
        GroupConflict::Default => ApiError::new(
            ErrorCode::DisallowedOperation,
            "The default group cannot be changed or deleted.",
        ),
    }
}

/// `GET /api/deviceGroups`: the tenant's groups by rank, the default group last.
#[utoipa::path(get, path = "/api/deviceGroups", tag = "deviceGroups",
    responses((status = 200, body = DeviceGroupList),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<OData<DeviceGroupList>, ApiError> {
    principal.read_visibility()?;
    state.check_rate(&principal, Operation::List)?;
    let tenant = principal.tenant.clone();
    let groups = state
        .blocking(move |service| service.device_groups(&tenant))
        .await?;
    Ok(OData(DeviceGroupList {
        context: format!("{}/api/$metadata#DeviceGroups", base_url(&state)),
        value: groups
            .groups()
            .iter()
            .map(DeviceGroupEntity::from)
            .collect(),
    }))
}

/// `GET /api/deviceGroups/{id}`.
#[utoipa::path(get, path = "/api/deviceGroups/{id}", tag = "deviceGroups", params(("id" = i64, Path)),
    responses((status = 200, body = DeviceGroupResponse),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<DeviceGroupResponse>, ApiError> {
    principal.read_visibility()?;
    state.check_rate(&principal, Operation::List)?;
    let id = parse_group_id(&id)?;
    let tenant = principal.tenant.clone();
    let groups = state
        .blocking(move |service| service.device_groups(&tenant))
        .await?;
    let group = groups
        .groups()
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found(format!("device group {id}")))?;
    Ok(OData(response(&state, DeviceGroupEntity::from(group))))
}

/// `POST /api/deviceGroups`: creates a group (names are unique without regard to case).
#[utoipa::path(post, path = "/api/deviceGroups", tag = "deviceGroups", request_body = DeviceGroupRequest,
    responses((status = 201, body = DeviceGroupResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 409, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<DeviceGroupRequest>,
) -> Result<(StatusCode, OData<DeviceGroupResponse>), ApiError> {
    require_manage(&principal)?;
    state.check_rate(&principal, Operation::Submit)?;
    let spec = checked(
        &request.name,
        &request.description,
        request.rank,
        request.rules.into(),
    )?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let group = state
        .blocking(move |service| service.create_device_group(&tenant, &spec, now))
        .await?
        .map_err(|c| conflict(c, None))?;
    Ok((
        StatusCode::CREATED,
        OData(response(&state, DeviceGroupEntity::from(&group))),
    ))
}

/// `PATCH /api/deviceGroups/{id}`: replaces the fields given; a new name reaches every
/// indicator scoped to the group.
#[utoipa::path(patch, path = "/api/deviceGroups/{id}", tag = "deviceGroups", params(("id" = i64, Path)),
    request_body = DeviceGroupPatch,
    responses((status = 200, body = DeviceGroupResponse), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 409, body = crate::wire::errors::ErrorBody),
        (status = 415, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<DeviceGroupPatch>,
) -> Result<OData<DeviceGroupResponse>, ApiError> {
    require_manage(&principal)?;
    state.check_rate(&principal, Operation::Submit)?;
    let id = parse_group_id(&id)?;
    let tenant = principal.tenant.clone();
    let groups = state
        .blocking(move |service| service.device_groups(&tenant))
        .await?;
    let existing = groups
        .groups()
        .iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found(format!("device group {id}")))?
        .clone();
    let spec = checked(
        patch.name.as_deref().unwrap_or(&existing.name),
        patch
            .description
            .as_deref()
            .unwrap_or(&existing.description),
        patch.rank.or(Some(existing.rank)),
        patch.rules.map_or(existing.rules, Into::into),
    )?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    let group = state
        .blocking(move |service| service.update_device_group(&tenant, id, &spec, now))
        .await?
        .map_err(|c| conflict(c, Some(id)))?;
    Ok(OData(response(&state, DeviceGroupEntity::from(&group))))
}

/// `DELETE /api/deviceGroups/{id}`: refused (409) while indicators are scoped to the group.
#[utoipa::path(delete, path = "/api/deviceGroups/{id}", tag = "deviceGroups", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = crate::wire::errors::ErrorBody),
        (status = 403, body = crate::wire::errors::ErrorBody), (status = 404, body = crate::wire::errors::ErrorBody),
        (status = 409, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_manage(&principal)?;
    state.check_rate(&principal, Operation::Delete)?;
    let id = parse_group_id(&id)?;
    let tenant = principal.tenant.clone();
    let now = state.now();
    state
        .blocking(move |service| service.delete_device_group(&tenant, id, now))
        .await?
        .map_err(|c| conflict(c, Some(id)))?;
    Ok(StatusCode::NO_CONTENT)
}
