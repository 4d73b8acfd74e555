//! `GET /api/machines` and `GET /api/machines/{id}` (also under `/api/devices`): the devices
//! that asked for verdicts or sent events, shaped as MDE's machine entity, with the group the
//! registry placed them in and when they were first and last seen. Read with
//! `Machine.Read.All` or any indicator role.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::odata::{OData, base_url};
use crate::rate_limit::Operation;
use crate::state::AppState;
use crate::wire::devices::{MachineEntity, MachineList, MachineResponse};
use axum::extract::{OriginalUri, Path, RawQuery, State};
use iocd_service::groups::TenantGroups;
use iocd_store::devices::SeenDevice;

/// Most devices one page holds (and its default), as MDE's machine list.
const MAX_TOP: usize = 10_000;

fn entity(device: &SeenDevice, groups: &TenantGroups) -> MachineEntity {
    MachineEntity {
        id: device.id.clone(),
        computer_dns_name: device.name.clone(),
        domain: device.domain.clone(),
        os_platform: device.os.clone(),
        machine_tags: device.tags.clone(),
        rbac_group_id: device.group_id,
        rbac_group_name: device.group_id.and_then(|id| {
            groups
                .groups()
                .iter()
                .find(|g| g.id == id)
                .map(|g| g.name.clone())
        }),
        first_seen: device.first_seen.to_mde_precise(),
        last_seen: device.last_seen.to_mde_precise(),
    }
}

/// `$top`, `$skip` and `$count`; other options are refused.
struct Paging {
    top: usize,
    skip: usize,
    count: bool,
}

fn parse_paging(raw: Option<&str>) -> Result<Paging, ApiError> {
    let mut paging = Paging {
        top: MAX_TOP,
        skip: 0,
        count: false,
    };
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let number = || {
            value.trim().parse::<usize>().map_err(|_| {
                ApiError::odata(format!(
                    "Invalid {name} '{value}': expected a whole number."
                ))
            })
        };
        match name.as_ref() {
            "$top" => {
                paging.top = number()?;
                if paging.top > MAX_TOP {
                    return Err(ApiError::odata(format!(
                        "Invalid $top {}: the maximum is {MAX_TOP}.",
                        paging.top
                    )));
                }
            }
            "$skip" => paging.skip = number()?,
            "$count" => {
                paging.count = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::odata(format!(
                            "Invalid $count '{value}': expected true or false."
                        )));
                    }
                }
            }
            other if other.starts_with('$') => {
                return Err(ApiError::odata(format!(
                    "The query option {other} is not supported here; devices take $top, $skip and $count."
                )));
            }
            _ => {}
        }
    }
    Ok(paging)
}

/// `GET /api/machines`: the devices seen, last seen first.
#[utoipa::path(get, path = "/api/machines", tag = "machines",
    params(
        ("$top" = Option<u32>, Query, description = "Page size, at most 10000"),
        ("$skip" = Option<u64>, Query),
        ("$count" = Option<bool>, Query),
    ),
    responses((status = 200, body = MachineList), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<OData<MachineList>, ApiError> {
    principal.require_machine_read()?;
    state.check_rate(&principal, Operation::List)?;
    let paging = parse_paging(raw.as_deref())?;
    let tenant = principal.tenant.clone();
    let (top, skip, want_count) = (paging.top, paging.skip, paging.count);
    let (devices, count, groups) = state
        .blocking(move |service| {
            // One more than the page, to know whether another follows.
            let devices = service
                .devices()
                .devices(&tenant, skip, top.saturating_add(1))?;
            let count = if want_count {
                Some(service.devices().count_devices(&tenant)?)
            } else {
                None
            };
            Ok((devices, count, service.device_groups(&tenant)?))
        })
        .await?;
    let has_more = devices.len() > top;
    let base = base_url(&state);
    let next_link = (has_more && top > 0).then(|| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("$top", &top.to_string());
        query.append_pair("$skip", &(skip.saturating_add(top)).to_string());
        if want_count {
            query.append_pair("$count", "true");
        }
        format!("{base}{}?{}", uri.path(), query.finish())
    });
    Ok(OData(MachineList {
        context: format!("{base}/api/$metadata#Machines"),
        count,
        value: devices
            .iter()
            .take(top)
            .map(|d| entity(d, &groups))
            .collect(),
        next_link,
    }))
}

/// `GET /api/machines/{id}`.
#[utoipa::path(get, path = "/api/machines/{id}", tag = "machines", params(("id" = String, Path)),
    responses((status = 200, body = MachineResponse),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<OData<MachineResponse>, ApiError> {
    principal.require_machine_read()?;
    state.check_rate(&principal, Operation::List)?;
    let tenant = principal.tenant.clone();
    let wanted = id.clone();
    let (device, groups) = state
        .blocking(move |service| {
            Ok((
                service.devices().device(&tenant, &wanted)?,
                service.device_groups(&tenant)?,
            ))
        })
        .await?;
    let device = device.ok_or_else(|| ApiError::not_found(format!("machine {id}")))?;
    Ok(OData(MachineResponse {
        context: format!("{}/api/$metadata#Machines/$entity", base_url(&state)),
        machine: entity(&device, &groups),
    }))
}
