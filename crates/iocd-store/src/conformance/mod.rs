//! The backend-independent conformance suite: behaviour every [`IndicatorStore`] must show.
//! A backend runs it with [`conformance_suite!`] (and [`detection_conformance_suite!`] for a
//! [`DetectionStore`](crate::detections::DetectionStore)), giving an expression that makes a
//! fresh, empty store, as any value that dereferences to the store (a `Box`, or a fixture that
//! also owns a temporary directory); each case becomes its own `#[test]`. Built only with the
//! `testsuite` feature.
//!
//! - [`indicators`]: the indicator store's cases;
//! - [`detections`]: alerts and sightings;
//! - [`device_groups`]: the device-group registry;
//! - [`bypasses`]: Warn bypasses;
//! - [`webhooks`]: alert delivery, the devices seen, stored feeds and records.

mod bypasses;
mod detections;
mod device_groups;
mod indicators;
mod webhooks;

pub use bypasses::*;
pub use detections::*;
pub use device_groups::*;
pub use indicators::*;
pub use webhooks::*;

use crate::odata::parse_filter;
use crate::{Actor, IndicatorStore, ListQuery, UpsertOutcome, Visibility, WriteContext};
use iocd_model::{
    IndicatorSpec, IndicatorSubmission, Timestamp, ValidationOptions, validate_submission,
};

/// Expands to one `#[test]` per conformance case, each on a store made by `$make`.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            create_then_get_returns_the_full_entity,
            upsert_key_is_type_value_and_action,
            ids_are_sequential_per_tenant_and_tenants_are_isolated,
            expired_indicators_are_invisible_then_swept,
            created_by_visibility_limits_reads_and_writes,
            active_indicator_cap_fails_only_new_items,
            delete_is_all_or_nothing,
            ids_out_of_range_name_nothing,
            history_records_every_change_and_survives_deletion,
            list_filters_orders_and_pages,
            counts_per_tenant_and_type,
            scan_active_visits_every_active_indicator_of_every_tenant,
            a_batch_may_repeat_a_key,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $make;
                $crate::conformance::$case(&*fixture);
            }
        )+
    };
}

pub(crate) fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("test timestamp")
}

pub(crate) const NOW: &str = "2026-03-01T12:00:00Z";

/// Builds a valid spec from JSON fields (defaults: Block, title "t", description "d").
pub fn spec(
    indicator_type: &str,
    value: &str,
    action: &str,
    extra: serde_json::Value,
) -> IndicatorSpec {
    let mut body = serde_json::json!({
        "indicatorType": indicator_type, "indicatorValue": value, "action": action,
        "title": "t", "description": "d",
    });
    if let (Some(target), serde_json::Value::Object(fields)) = (body.as_object_mut(), extra) {
        target.extend(fields);
    }
    let submission: IndicatorSubmission = serde_json::from_value(body).expect("submission JSON");
    validate_submission(
        &submission,
        &ValidationOptions::json(t("2026-01-01T00:00:00Z"), false),
    )
    .expect("valid spec")
}

pub fn actor(id: &str) -> Actor {
    Actor {
        id: id.to_owned(),
        display_name: format!("{id} app"),
        source: "PublicApi".to_owned(),
    }
}

pub(crate) fn context(now: &str) -> WriteContext {
    WriteContext {
        now: t(now),
        visibility: Visibility::All,
        max_active: None,
    }
}

pub(crate) fn upsert(
    store: &dyn IndicatorStore,
    tenant: &str,
    specs: &[IndicatorSpec],
) -> Vec<UpsertOutcome> {
    store
        .upsert_batch(tenant, &actor("app-1"), specs, &context(NOW))
        .expect("upsert")
}

pub(crate) fn query(filter: &str) -> ListQuery {
    ListQuery {
        filter: (!filter.is_empty()).then(|| parse_filter(filter).expect("test filter")),
        top: 100,
        ..ListQuery::default()
    }
}

pub(crate) fn ids(store: &dyn IndicatorStore, tenant: &str, query: &ListQuery) -> Vec<i64> {
    store
        .list(tenant, query, &Visibility::All, t(NOW))
        .expect("list")
        .items
        .iter()
        .map(|i| i.id)
        .collect()
}

/// Expands to one `#[test]` per detection-store case, each on a store made by `$make` that
/// implements both [`IndicatorStore`] and [`crate::detections::DetectionStore`].
#[macro_export]
macro_rules! detection_conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            alerts_carry_the_indicator_and_fold_per_device_and_day,
            alerts_list_filter_and_update,
            sightings_widen_and_are_found_by_key_ranges,
        );
    };
}
