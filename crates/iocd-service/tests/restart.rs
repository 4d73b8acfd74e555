//! What the service keeps across a restart on the same database: Warn bypasses (loaded at
//! start, so the bypassed device is still allowed) and the devices seen (written at shutdown).

use iocd_model::{IndicatorSubmission, Timestamp, ValidationOptions};
use iocd_service::{Service, Settings};
use iocd_store::devices::SeenDevice;
use iocd_store::{Actor, SqliteStore, Visibility, WriteContext};
use std::sync::Arc;

fn start(path: &std::path::Path, now: Timestamp) -> Service {
    let store = SqliteStore::open(path).expect("store");
    Service::start(Arc::new(store), Settings::default(), now).expect("start")
}

#[test]
fn bypasses_and_devices_seen_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("iocd.db");
    let now = Timestamp::parse("2026-03-01T00:00:00Z").expect("now");
    let actor = Actor {
        id: "sensor".into(),
        display_name: "sensor".into(),
        source: "PublicApi".into(),
    };
    let service = start(&path, now);
    let submission: IndicatorSubmission = serde_json::from_value(serde_json::json!({
        "indicatorValue": "warned.example", "indicatorType": "DomainName", "action": "Warn",
        "title": "t", "description": "d", "bypassDurationHours": 2,
    }))
    .expect("submission");
    let spec = iocd_model::validate_submission(&submission, &ValidationOptions::json(now, false))
        .expect("valid");
    let context = WriteContext {
        now,
        visibility: Visibility::All,
        max_active: None,
    };
    let id = service
        .upsert("t1", &actor, &[spec], &context)
        .expect("upsert")[0]
        .id()
        .expect("created");
    service
        .record_bypass("t1", "d1", id, Some("ana".into()), &actor, now)
        .expect("store")
        .expect("recorded");
    service.note_device(
        "t1",
        SeenDevice {
            id: "d1".into(),
            name: Some("pc-1".into()),
            domain: None,
            os: None,
            tags: Vec::new(),
            group_id: Some(0),
            first_seen: now,
            last_seen: now,
        },
    );
    service.shutdown();
    drop(service);

    let later = now.plus_seconds(3600);
    let service = start(&path, later);
    let until = service.bypassed_until("t1", "d1", id, later);
    assert_eq!(until, Some(now.plus_seconds(2 * 3600)));
    assert_eq!(service.bypassed_until("t1", "d2", id, later), None);
    assert_eq!(
        service.bypassed_until("t1", "d1", id, now.plus_seconds(2 * 3600)),
        None,
        "over at its end"
    );
    let device = service.devices().device("t1", "d1").expect("read");
    assert_eq!(device.and_then(|d| d.name).as_deref(), Some("pc-1"));
}
