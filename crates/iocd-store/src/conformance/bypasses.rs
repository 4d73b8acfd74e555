//! Conformance cases of the bypass store: recorded only for active indicators, renewed,
//! listed until they expire, swept, and written into the indicator's history.

use super::{NOW, actor, spec, t, upsert};
use crate::bypasses::{Bypass, BypassStore};
use crate::{HistoryOp, IndicatorStore, Visibility};

fn bypass(device: &str, id: i64, from: &str, until: &str) -> Bypass {
    Bypass {
        device_id: device.to_owned(),
        indicator_id: id,
        user: Some("ana".to_owned()),
        created: t(from),
        expires: t(until),
    }
}

pub fn bypasses_are_kept_until_they_expire_and_enter_history<S>(store: &S)
where
    S: IndicatorStore + BypassStore,
{
    upsert(
        store,
        "t",
        &[spec(
            "DomainName",
            "warned.example",
            "Warn",
            serde_json::json!({}),
        )],
    );
    let sensor = actor("sensor");
    assert!(
        store
            .record_bypass("t", &bypass("d1", 1, NOW, "2026-03-01T16:00:00Z"), &sensor)
            .unwrap()
    );
    assert!(
        store
            .record_bypass("t", &bypass("d2", 1, NOW, "2026-03-02T12:00:00Z"), &sensor)
            .unwrap()
    );
    // No such indicator, no such tenant: nothing recorded.
    assert!(
        !store
            .record_bypass("t", &bypass("d1", 9, NOW, "2026-03-02T00:00:00Z"), &sensor)
            .unwrap()
    );
    assert!(
        !store
            .record_bypass("u", &bypass("d1", 1, NOW, "2026-03-02T00:00:00Z"), &sensor)
            .unwrap()
    );
    let devices = |at: &str| -> Vec<String> {
        store
            .bypasses("t", t(at))
            .unwrap()
            .into_iter()
            .map(|b| b.device_id)
            .collect()
    };
    assert_eq!(devices(NOW), ["d1", "d2"]);
    assert_eq!(devices("2026-03-01T16:00:00Z"), ["d2"]);
    // Renewing replaces the bypass of that device.
    assert!(
        store
            .record_bypass(
                "t",
                &bypass("d1", 1, "2026-03-01T15:00:00Z", "2026-03-03T00:00:00Z"),
                &sensor
            )
            .unwrap()
    );
    assert_eq!(devices("2026-03-02T13:00:00Z"), ["d1"]);
    let all = store.active_bypasses(t(NOW)).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(tenant, _)| tenant == "t"));
    assert_eq!(store.sweep_bypasses(t("2026-03-02T13:00:00Z")).unwrap(), 1);
    assert_eq!(store.active_bypasses(t(NOW)).unwrap().len(), 1);

    let history = store
        .history("t", 1, &Visibility::All)
        .unwrap()
        .expect("history");
    let ops: Vec<HistoryOp> = history.iter().map(|e| e.op).collect();
    assert_eq!(
        ops,
        [
            HistoryOp::Create,
            HistoryOp::Bypass,
            HistoryOp::Bypass,
            HistoryOp::Bypass
        ]
    );
    assert_eq!(history[1].actor_name.as_deref(), Some("ana on device d1"));
    // A bypass changes nothing: the state after it is the state before.
    assert_eq!(history[1].before, history[1].after);
    assert_eq!(history[0].after, history[1].before);
}

/// Expands to one `#[test]` per bypass case, each on a store made by `$make` that implements
/// [`IndicatorStore`] and [`BypassStore`].
#[macro_export]
macro_rules! bypass_conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            bypasses_are_kept_until_they_expire_and_enter_history,
        );
    };
}
