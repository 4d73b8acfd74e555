//! Runs a target: seeds first, then generated inputs until the budget is spent, each checked
//! for panics, contract violations, time and memory; a failing input is shrunk and reported.

use crate::alloc::peak_during;
use crate::mutate::Mutator;
use crate::rng::Rng;
use crate::{Checker, Target, Verdict};
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How long a run lasts: whichever limit comes first (at least the seeds are always run).
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    pub cases: Option<u64>,
    pub time: Option<Duration>,
}

/// What one case may cost.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// A case that takes longer (and finishes) fails.
    pub case_time: Duration,
    /// A case that has not finished after this long is a hang: the watchdog reports its input
    /// and ends the process, since a looping thread cannot be stopped from outside.
    pub hang_time: Duration,
    /// The most bytes a case may hold at once (needs [`crate::CountingAllocator`]).
    pub case_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            case_time: Duration::from_secs(1),
            hang_time: Duration::from_secs(20),
            case_bytes: 64 << 20,
        }
    }
}

/// Why an input failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The code under test panicked (the panic's message and place).
    Panic(String),
    /// The target's contract was broken (a wrong or empty error, a result that does not
    /// round-trip, a server-side failure where the input's fault was expected).
    Violation(String),
    Slow(Duration),
    Memory(usize),
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Panic(message) => write!(f, "panicked: {message}"),
            FailureKind::Violation(message) => write!(f, "contract broken: {message}"),
            FailureKind::Slow(took) => write!(f, "took {took:?}"),
            FailureKind::Memory(bytes) => write!(f, "held {bytes} bytes at once"),
        }
    }
}

/// A failing input, shrunk when the failure reproduces.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub seed: u64,
    pub cases: u64,
    /// Cases the code under test accepted (the rest it refused with an error).
    pub accepted: u64,
    pub elapsed: Duration,
    pub slowest: Duration,
    pub peak_bytes: usize,
    pub failure: Option<Failure>,
}

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that keeps the panics of fuzz cases quiet (their message goes
/// to the failure report) and leaves every other panic to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                let place = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{message}{place}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs one input through `check` and says whether and how it failed.
fn run_case(
    check: &mut Checker,
    input: &[u8],
    bounds: &Bounds,
) -> (Result<Verdict, FailureKind>, Duration, usize) {
    IN_CASE.with(|c| c.set(true));
    let started = Instant::now();
    let (result, peak) =
        peak_during(|| std::panic::catch_unwind(AssertUnwindSafe(|| check(input))));
    let took = started.elapsed();
    IN_CASE.with(|c| c.set(false));
    let outcome = match result {
        Err(_) => Err(FailureKind::Panic(
            PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "a panic".to_owned()),
        )),
        Ok(Err(violation)) => Err(FailureKind::Violation(violation)),
        Ok(Ok(_)) if took > bounds.case_time => Err(FailureKind::Slow(took)),
        Ok(Ok(_)) if peak > bounds.case_bytes => Err(FailureKind::Memory(peak)),
        Ok(Ok(verdict)) => Ok(verdict),
    };
    (outcome, took, peak)
}

/// The input in flight, for the watchdog.
#[derive(Debug, Default)]
struct InFlight {
    started: Option<Instant>,
    input: Vec<u8>,
}

/// Ends the process when one case runs past `hang_time`, printing its input first.
fn start_watchdog(
    target: &'static str,
    hang_time: Duration,
    in_flight: Arc<Mutex<InFlight>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            let state = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(started) = state.started
                && started.elapsed() > hang_time
            {
                eprintln!(
                    "{target}: a case has run for more than {hang_time:?}, a hang; its input: {}",
                    crate::escape(&state.input)
                );
                std::process::exit(3);
            }
        }
    })
}

/// Runs `target` within `budget`, starting its generator from `seed`.
pub fn run(target: &Target, budget: Budget, bounds: Bounds, seed: u64) -> Report {
    install_panic_hook();
    let mut check = (target.make)();
    let mut mutator = Mutator::new(
        target.seeds,
        target.dictionary,
        target.max_len,
        target.grammar,
    );
    let mut rng = Rng::new(seed);
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = start_watchdog(
        target.name,
        bounds.hang_time,
        Arc::clone(&in_flight),
        Arc::clone(&done),
    );
    let started = Instant::now();
    let mut report = Report {
        target: target.name,
        seed,
        cases: 0,
        accepted: 0,
        elapsed: Duration::ZERO,
        slowest: Duration::ZERO,
        peak_bytes: 0,
        failure: None,
    };
    let seeds = mutator.seeds().to_vec();
    let mut seeds = seeds.into_iter();
    loop {
        let seeds_done = seeds.len() == 0;
        if seeds_done {
            let out_of_cases = budget.cases.is_some_and(|cases| report.cases >= cases);
            let out_of_time = budget.time.is_some_and(|time| started.elapsed() >= time);
            if out_of_cases || out_of_time || (budget.cases.is_none() && budget.time.is_none()) {
                break;
            }
        }
        let input = match seeds.next() {
            Some(seed_input) => seed_input,
            None => mutator.generate(&mut rng),
        };
        {
            let mut state = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            state.started = Some(Instant::now());
            state.input.clear();
            state.input.extend_from_slice(&input);
        }
        let (outcome, took, peak) = run_case(&mut check, &input, &bounds);
        in_flight.lock().unwrap_or_else(|e| e.into_inner()).started = None;
        report.cases += 1;
        report.slowest = report.slowest.max(took);
        report.peak_bytes = report.peak_bytes.max(peak);
        match outcome {
            Ok(Verdict::Accepted) => report.accepted += 1,
            Ok(Verdict::Refused) => {}
            Err(kind) => {
                let (input, kind) = shrink(&mut check, input, kind, &bounds);
                report.failure = Some(Failure { kind, input });
                break;
            }
        }
    }
    report.elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    report
}

/// Whether two failures are the same kind of failure (for shrinking: a smaller input must
/// fail the same way, not merely fail).
fn same_kind(a: &FailureKind, b: &FailureKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Removes spans of `input`, largest first, while it still fails the way `kind` says; returns
/// the smaller input with its own failure. Slow and memory failures are left as they are
/// (shrinking would multiply their cost).
fn shrink(
    check: &mut Checker,
    mut input: Vec<u8>,
    mut kind: FailureKind,
    bounds: &Bounds,
) -> (Vec<u8>, FailureKind) {
    if matches!(kind, FailureKind::Slow(_) | FailureKind::Memory(_)) {
        return (input, kind);
    }
    let mut attempts = 0;
    let mut span = input.len() / 2;
    while span > 0 && attempts < 5_000 {
        let mut start = 0;
        let mut removed_any = false;
        while start + span <= input.len() && attempts < 5_000 {
            attempts += 1;
            let mut candidate = input.clone();
            candidate.drain(start..start + span);
            match run_case(check, &candidate, bounds).0 {
                Err(other) if same_kind(&other, &kind) => {
                    input = candidate;
                    kind = other;
                    removed_any = true;
                }
                _ => start += span,
            }
        }
        if !removed_any {
            span /= 2;
        }
    }
    (input, kind)
}

/// Runs one input through `target` (to reproduce a reported failure).
pub fn replay(target: &Target, input: &[u8], bounds: Bounds) -> Result<Verdict, FailureKind> {
    install_panic_hook();
    let mut check = (target.make)();
    run_case(&mut check, input, &bounds).0
}
