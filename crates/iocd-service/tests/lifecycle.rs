//! The service's threads: appliers and the merge worker run while the service does, a large
//! overlay is merged into a new base by the merge worker, and every thread has ended once the
//! service shuts down, after which writes still reach the matcher. One test in this file, so
//! no other test's service shares the process whose threads it counts.

use iocd_engine::{Device, Observable, ObservableKind};
use iocd_model::{IndicatorSpec, IndicatorSubmission, Timestamp, ValidationOptions};
use iocd_service::{APPLIER_THREAD, MERGE_THREAD, Service, Settings};
use iocd_store::{Actor, SqliteStore, Visibility, WriteContext};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The names of this process's threads that start with `prefix` (Linux).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("the process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end().starts_with(prefix))
        .count()
}

/// Waits (a few seconds at most) until `count` threads are named with `prefix`: a new thread
/// names itself once it runs.
fn wait_for_threads(prefix: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_named(prefix) != count {
        assert!(
            Instant::now() < deadline,
            "{} threads named {prefix}*, not {count}",
            threads_named(prefix)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn domain_spec(name: &str, now: Timestamp) -> IndicatorSpec {
    let submission: IndicatorSubmission = serde_json::from_value(serde_json::json!({
        "indicatorValue": name, "indicatorType": "DomainName", "action": "Block",
        "title": "t", "description": "d",
    }))
    .expect("submission");
    iocd_model::validate_submission(&submission, &ValidationOptions::json(now, false))
        .expect("valid")
}

fn blocks(service: &Service, host: &str, now: Timestamp) -> bool {
    let observable = Observable::parse(ObservableKind::DomainName, host).expect("host");
    let verdict = service
        .snapshot("t1")
        .evaluate(&observable, &Device::default(), now);
    verdict.blocks()
}

#[test]
fn threads_apply_and_merge_while_running_and_end_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("iocd.db")).expect("store");
    let now = Timestamp::parse("2026-03-01T00:00:00Z").expect("now");
    let settings = Settings {
        applier_threads: 2,
        ..Settings::default()
    };
    let service = Service::start(Arc::new(store), settings, now).expect("start");
    wait_for_threads(APPLIER_THREAD, 2);
    wait_for_threads(MERGE_THREAD, 1);

    let actor = Actor {
        id: "app".into(),
        display_name: "app".into(),
        source: "PublicApi".into(),
    };
    let context = WriteContext {
        now,
        visibility: Visibility::All,
        max_active: None,
    };
    // Enough indicators in the overlay to start a merge (65,536 changed ids at least).
    for batch in 0..14 {
        let specs: Vec<IndicatorSpec> = (0..5_000)
            .map(|n| domain_spec(&format!("d{batch}-{n}.example"), now))
            .collect();
        service
            .upsert("t1", &actor, &specs, &context)
            .expect("upsert");
    }
    service.wait_until_applied("t1", now);
    assert!(blocks(&service, "x.d13-4999.example", now));
    let deadline = Instant::now() + Duration::from_secs(60);
    while service.snapshot("t1").base_len() < 65_536 {
        assert!(Instant::now() < deadline, "no merge installed a new base");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(blocks(&service, "d0-0.example", now));

    service.shutdown();
    assert_eq!(threads_named(APPLIER_THREAD), 0);
    assert_eq!(threads_named(MERGE_THREAD), 0);
    // Without its threads the service still applies writes, in the writer's thread.
    let late = domain_spec("late.example", now);
    service
        .upsert("t1", &actor, &[late], &context)
        .expect("upsert after shutdown");
    assert!(blocks(&service, "late.example", now));
}
