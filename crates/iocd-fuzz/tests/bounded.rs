//! Every fuzz target for a bounded number of cases (what CI runs; `scripts/fuzz` runs them for
//! longer), and the runner's own checks: that it catches and shrinks what it should.

use iocd_fuzz::runner::{Bounds, Budget, FailureKind, run};
use iocd_fuzz::{Checker, CountingAllocator, Target, Verdict, targets};
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Cases per target; `IOCD_FUZZ_CASES` changes it.
fn cases() -> u64 {
    std::env::var("IOCD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

/// A fixed seed, so a failure in CI reproduces; `IOCD_FUZZ_SEED` picks another.
fn seed() -> u64 {
    std::env::var("IOCD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2026)
}

fn target(name: &str) -> &'static Target {
    targets()
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

fn fuzz(name: &str) {
    assert!(
        iocd_fuzz::is_counting(),
        "the counting allocator is not active"
    );
    let report = run(
        target(name),
        Budget {
            cases: Some(cases()),
            time: None,
        },
        Bounds::default(),
        seed(),
    );
    if let Some(failure) = &report.failure {
        panic!(
            "{name} (seed {}) failed after {} cases: {}\ninput: {}\nreplay: cargo run -p iocd-fuzz -- {name} --replay '{}'",
            report.seed,
            report.cases,
            failure.kind,
            iocd_fuzz::escape(&failure.input),
            iocd_fuzz::escape(&failure.input),
        );
    }
    assert!(report.cases >= cases());
    // The generators reach inputs the code accepts, not only refusals.
    assert!(report.accepted > 0, "{name}: no input was accepted");
}

macro_rules! fuzz_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                fuzz($name);
            }
        )*

        #[test]
        fn every_target_has_a_test() {
            let tested = [$($name),*];
            for target in targets() {
                assert!(tested.contains(&target.name), "{} has no test", target.name);
            }
        }
    };
}

fuzz_tests! {
    csv_rows => "csv",
    odata_filter => "odata-filter",
    odata_order_by => "odata-orderby",
    urls => "url",
    indicator_values => "indicator-values",
    observables => "observables",
    timestamps => "timestamp",
    indicator_json => "indicator-json",
    events_json => "events-json",
    stix_patterns => "stix-pattern",
    feed_documents => "feed-document",
}

/// A target whose checker fails in a chosen way on inputs holding a `!`.
fn faulty(make: fn() -> Checker) -> Target {
    Target {
        name: "faulty",
        about: "a checker with a planted fault",
        seeds: &[b"aaaa!bbbb"],
        dictionary: &["!"],
        max_len: 64,
        grammar: None,
        make,
    }
}

fn run_faulty(make: fn() -> Checker) -> iocd_fuzz::runner::Report {
    run(
        &faulty(make),
        Budget {
            cases: Some(1_000),
            time: None,
        },
        Bounds {
            case_time: Duration::from_millis(50),
            case_bytes: 1 << 20,
            ..Bounds::default()
        },
        1,
    )
}

#[test]
fn the_runner_catches_and_shrinks_a_panic() {
    let report = run_faulty(|| {
        Box::new(|input: &[u8]| {
            if input.contains(&b'!') {
                panic!("planted");
            }
            Ok(Verdict::Accepted)
        })
    });
    let failure = report.failure.expect("the panic was not caught");
    assert!(
        matches!(&failure.kind, FailureKind::Panic(message) if message.contains("planted")),
        "{:?}",
        failure.kind
    );
    assert_eq!(
        failure.input, b"!",
        "not shrunk to the one byte that matters"
    );
}

#[test]
fn the_runner_reports_a_broken_contract() {
    let report = run_faulty(|| {
        Box::new(|input: &[u8]| {
            if input.contains(&b'!') {
                Err("planted".to_owned())
            } else {
                Ok(Verdict::Refused)
            }
        })
    });
    let failure = report.failure.expect("the violation was not reported");
    assert_eq!(failure.kind, FailureKind::Violation("planted".to_owned()));
}

#[test]
fn the_runner_bounds_memory_and_time() {
    let report = run_faulty(|| {
        Box::new(|input: &[u8]| {
            if input.contains(&b'!') {
                let held = std::hint::black_box(vec![1u8; 4 << 20]);
                drop(held);
            }
            Ok(Verdict::Accepted)
        })
    });
    let failure = report.failure.expect("the memory was not noticed");
    assert!(
        matches!(failure.kind, FailureKind::Memory(bytes) if bytes >= 4 << 20),
        "{:?}",
        failure.kind
    );

    let report = run_faulty(|| {
        Box::new(|input: &[u8]| {
            if input.contains(&b'!') {
                std::thread::sleep(Duration::from_millis(120));
            }
            Ok(Verdict::Accepted)
        })
    });
    let failure = report.failure.expect("the slow case was not noticed");
    assert!(
        matches!(failure.kind, FailureKind::Slow(_)),
        "{:?}",
        failure.kind
    );
}

#[test]
fn a_clean_target_runs_its_whole_budget() {
    let report = run_faulty(|| Box::new(|_: &[u8]| Ok(Verdict::Refused)));
    assert!(report.failure.is_none());
    assert_eq!(report.cases, 1_000);
    assert_eq!(report.accepted, 0);
}
