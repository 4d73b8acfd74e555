//! `iocd-fuzz`: runs the fuzz targets for a time or a number of cases and reports each run
//! (cases, share accepted, speed, slowest case, peak memory) or the input that failed.

use anyhow::{Context, Result, bail};
use clap::Parser;
use iocd_fuzz::runner::{Bounds, Budget, Report, run};
use iocd_fuzz::{CountingAllocator, Target, escape, targets, unescape};
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Feeds iocd's parsers generated and mutated input; fails on a panic, a broken contract, a
/// slow case or one that holds too much memory.
#[derive(Debug, Parser)]
#[command(name = "iocd-fuzz")]
struct Args {
    /// Targets to run (all when none are named).
    targets: Vec<String>,
    /// Seconds to run each target.
    #[arg(long, conflicts_with = "cases")]
    seconds: Option<u64>,
    /// Cases to run per target.
    #[arg(long)]
    cases: Option<u64>,
    /// Seed of the input generator (random when not given; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Longest a single case may take, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    case_millis: u64,
    /// Most memory a single case may hold at once, in MiB.
    #[arg(long, default_value_t = 64)]
    case_mib: usize,
    /// Runs one input (escaped as failures print it) through the one named target.
    #[arg(long, value_name = "ESCAPED_INPUT")]
    replay: Option<String>,
    /// Lists the targets and what each checks.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("iocd-fuzz: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn try_main() -> Result<ExitCode> {
    let args = Args::parse();
    if args.list {
        for target in targets() {
            println!("{:<18} {}", target.name, target.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chosen = choose(&args.targets)?;
    let bounds = Bounds {
        case_time: Duration::from_millis(args.case_millis),
        case_bytes: args.case_mib << 20,
        ..Bounds::default()
    };
    if let Some(escaped) = &args.replay {
        let [target] = chosen.as_slice() else {
            bail!("--replay needs exactly one target");
        };
        return replay(target, escaped, bounds);
    }
    if !iocd_fuzz::is_counting() {
        bail!("the counting allocator is not active; memory would not be checked");
    }
    let budget = Budget {
        cases: args.cases,
        time: args.seconds.map(Duration::from_secs),
    };
    let budget = if budget.cases.is_none() && budget.time.is_none() {
        Budget {
            time: Some(Duration::from_secs(10)),
            ..budget
        }
    } else {
        budget
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let mut failed = false;
    for target in chosen {
        let report = run(target, budget, bounds, seed);
        print_report(&report);
        failed |= report.failure.is_some();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn choose(names: &[String]) -> Result<Vec<&'static Target>> {
    if names.is_empty() {
        return Ok(targets().iter().collect());
    }
    names
        .iter()
        .map(|name| {
            targets().iter().find(|t| t.name == name).with_context(|| {
                let known: Vec<_> = targets().iter().map(|t| t.name).collect();
                format!("no target {name:?}; the targets are {}", known.join(", "))
            })
        })
        .collect()
}

fn replay(target: &Target, escaped: &str, bounds: Bounds) -> Result<ExitCode> {
    let input = unescape(escaped).map_err(anyhow::Error::msg)?;
    let report = iocd_fuzz::runner::replay(target, &input, bounds);
    match report {
        Ok(verdict) => {
            println!("{}: {verdict:?}", target.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(kind) => {
            println!("{}: FAILED, {kind}", target.name);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}

fn print_report(report: &Report) {
    let seconds = report.elapsed.as_secs_f64();
    let share = if report.cases == 0 {
        0.0
    } else {
        100.0 * report.accepted as f64 / report.cases as f64
    };
    println!(
        "{:<18} seed {:>20}  {:>11} cases in {:>6.1} s ({:>9.0}/s), {:>4.1}% accepted, slowest {:>8.3} ms, peak {:>7.1} KiB: {}",
        report.target,
        report.seed,
        report.cases,
        seconds,
        report.cases as f64 / seconds.max(1e-9),
        share,
        report.slowest.as_secs_f64() * 1000.0,
        report.peak_bytes as f64 / 1024.0,
        match &report.failure {
            None => "ok".to_owned(),
            Some(failure) => format!(
                "FAILED, {}\n    input: {}",
                failure.kind,
                escape(&failure.input)
            ),
        }
    );
}
