//! Benchmarks the matching engine alone: build time, memory per indicator, and lookups per
//! second on one thread for each observable kind, on a realistic indicator set (see
//! `iocd_bench::indicator_set`). Half of the observables match an indicator.
//!
//! Usage: `engine-bench [--indicators N] [--lookups N] [--rounds N] [--kinds K,K] [--data DIR]`
//! (defaults 1,000,000, 2,000,000, 3, all kinds, bench-data/real). The batched figures are the
//! best of `--rounds` passes over the same lookups: the machine's speed varies from moment to
//! moment, and the best pass is the one least disturbed.

use anyhow::{Context, Result};
use iocd_bench::{MIX, RealData, Rng, indicator_set};
use iocd_engine::observable::parse_hex;
use iocd_engine::{
    Device, EngineIndicator, FileHashes, MatchSet, Observable, ObservableKind, Snapshot, compile,
};
use iocd_model::{IndicatorType, Timestamp};
use std::borrow::Cow;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// The allocator: the matching engine allocates and frees one buffer per observed URL, and
/// mimalloc spends less time on that than glibc's malloc (decision 0012).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn number(name: &str, default: usize) -> Result<usize> {
    match arg(name) {
        Some(text) => text
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} wants a number")),
        None => Ok(default),
    }
}

/// Observables of one kind, half of them drawn from the indicators so they match.
fn observables(
    kind: &str,
    indicators: &[EngineIndicator],
    data: &RealData,
    count: usize,
    rng: &mut Rng,
) -> Vec<String> {
    let of_type = |t: IndicatorType| -> Vec<&EngineIndicator> {
        indicators
            .iter()
            .filter(|i| i.value.indicator_type() == t)
            .collect()
    };
    let pool = match kind {
        "FileSha256" => of_type(IndicatorType::FileSha256),
        "FileSha1" => of_type(IndicatorType::FileSha1),
        "FileMd5" => of_type(IndicatorType::FileMd5),
        "IpAddress" => of_type(IndicatorType::IpAddress),
        "DomainName" => of_type(IndicatorType::DomainName),
        _ => of_type(IndicatorType::Url),
    };
    (0..count)
        .map(|n| {
            let hit = n % 2 == 0 && !pool.is_empty();
            match kind {
                "FileSha256" | "FileSha1" | "FileMd5" => {
                    if hit {
                        pool[rng.below(pool.len())].value.to_string()
                    } else {
                        rng.hex(match kind {
                            "FileSha256" => 64,
                            "FileSha1" => 40,
                            _ => 32,
                        })
                    }
                }
                "IpAddress" => {
                    if hit {
                        let network = pool[rng.below(pool.len())].value.to_string();
                        network.split('/').next().unwrap_or(&network).to_owned()
                    } else {
                        std::net::Ipv4Addr::from(rng.next_u64() as u32).to_string()
                    }
                }
                "DomainName" => {
                    if hit {
                        format!("www.{}", pool[rng.below(pool.len())].value)
                    } else {
                        data.origins[rng.below(data.origins.len())].clone()
                    }
                }
                _ => {
                    if hit {
                        format!("{}/page?id={n}", pool[rng.below(pool.len())].value)
                    } else {
                        let host = &data.origins[rng.below(data.origins.len())];
                        format!("http://{host}{}", rng.path())
                    }
                }
            }
        })
        .collect()
}

fn rate(count: usize, seconds: f64) -> String {
    let per_second = count as f64 / seconds;
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else {
        format!("{:.0} k/s", per_second / 1e3)
    }
}

fn main() -> Result<()> {
    let count = number("--indicators", 1_000_000)?;
    let lookups = number("--lookups", 2_000_000)?;
    let rounds = number("--rounds", 3)?.max(1);
    let dir = PathBuf::from(arg("--data").unwrap_or_else(|| "bench-data/real".into()));
    let data = RealData::load(&dir)?;
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let indicators = indicator_set(&data, count, &mut rng);
    let mix: Vec<String> = MIX.iter().map(|(t, p)| format!("{t} {p}%")).collect();
    println!(
        "engine benchmark: {} indicators ({}), {lookups} lookups per kind, half of them hits",
        indicators.len(),
        mix.join(", ")
    );

    let started = Instant::now();
    let compiled: Vec<_> = indicators.iter().map(compile).collect();
    let compile_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let set = MatchSet::build(compiled);
    let build_seconds = started.elapsed().as_secs_f64();
    println!(
        "build: {:.2} s to compile + {:.2} s to index = {:.2} s ({})",
        compile_seconds,
        build_seconds,
        compile_seconds + build_seconds,
        rate(indicators.len(), compile_seconds + build_seconds)
    );
    println!(
        "memory: {:.1} bytes/indicator held by the match set (the sum of its allocations; target <= 100)",
        set.heap_bytes() as f64 / set.len() as f64,
    );
    let snapshot = Snapshot::of(set);
    let now = Timestamp::from_unix_seconds(1_800_000_000);
    let device = Device::new(["group-1"]);

    println!(
        "lookups per second, one thread: one observable per call (evaluate) and {BATCH} per call (evaluate_batch, best of {rounds} passes)"
    );
    let only = arg("--kinds");
    let wanted = |kind: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|k| k == kind))
    };
    for kind in [
        "FileSha256",
        "FileSha1",
        "FileMd5",
        "IpAddress",
        "DomainName",
        "Url",
    ] {
        if !wanted(kind) {
            continue;
        }
        let raw = observables(kind, &indicators, &data, lookups, &mut rng);
        let observable_kind = ObservableKind::parse(kind).context("kind")?;
        let parse = |text: &String| Observable::parse(observable_kind, text).ok();
        let parse_owned = |text: &String| parse(text).map(Cow::Owned);
        if kind == "Url" {
            // Canonicalisation is part of every URL lookup: measured alone, then included.
            let started = Instant::now();
            let parsed = raw.iter().filter(|t| black_box(parse(t)).is_some()).count();
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "  {:<11} {:>10}   {:.0} ns each, {parsed} parsed, canonicalise only",
                "(Url)",
                rate(raw.len(), seconds),
                seconds * 1e9 / raw.len() as f64,
            );
            let measured = measure(&snapshot, &raw, parse_owned, &device, now, rounds);
            report(kind, raw.len(), measured, "canonicalise + match");
        } else {
            let parsed: Vec<Observable> = raw.iter().filter_map(parse).collect();
            let measured = measure(
                &snapshot,
                &parsed,
                |o| Some(Cow::Borrowed(o)),
                &device,
                now,
                rounds,
            );
            report(kind, raw.len(), measured, "match (value already parsed)");
        }
    }
    // A file seen with all three hashes, as endpoint telemetry reports it.
    if !wanted("File") {
        return Ok(());
    }
    let sha256 = observables("FileSha256", &indicators, &data, lookups, &mut rng);
    let files: Vec<Observable> = sha256
        .iter()
        .map(|h| {
            Observable::File(FileHashes {
                sha256: parse_hex("sha256", h).ok(),
                sha1: parse_hex("sha1", &rng.hex(40)).ok(),
                md5: parse_hex("md5", &rng.hex(32)).ok(),
                certificate: None,
            })
        })
        .collect();
    let measured = measure(
        &snapshot,
        &files,
        |o| Some(Cow::Borrowed(o)),
        &device,
        now,
        rounds,
    );
    report("File", files.len(), measured, "three hashes per file");
    Ok(())
}

/// Observables per `evaluate_batch` call.
const BATCH: usize = 256;

/// Seconds for one `evaluate` per input, the best of `rounds` passes of `evaluate_batch` over
/// groups of [`BATCH`], and how many inputs matched. `prepare` turns an input into its observable inside
/// both timings: for URLs it canonicalises; for values parsed beforehand it borrows.
fn measure<'a, T>(
    snapshot: &Snapshot,
    inputs: &'a [T],
    prepare: impl Fn(&'a T) -> Option<Cow<'a, Observable>>,
    device: &Device,
    now: Timestamp,
    rounds: usize,
) -> (f64, f64, usize) {
    let started = Instant::now();
    let mut hits = 0usize;
    for input in inputs {
        if let Some(observable) = prepare(input) {
            hits += usize::from(
                black_box(snapshot.evaluate(&observable, device, now))
                    .winner()
                    .is_some(),
            );
        }
    }
    let one_at_a_time = started.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut verdicts = Vec::with_capacity(BATCH);
    let mut observables = Vec::with_capacity(BATCH);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut batch_hits = 0usize;
        for group in inputs.chunks(BATCH) {
            observables.clear();
            observables.extend(group.iter().filter_map(&prepare));
            let items: Vec<(&Observable, &Device)> =
                observables.iter().map(|o| (o.as_ref(), device)).collect();
            verdicts.clear();
            snapshot.evaluate_batch(&items, now, &mut verdicts);
            batch_hits += black_box(&verdicts)
                .iter()
                .filter(|v| v.winner().is_some())
                .count();
        }
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(hits, batch_hits, "batched and single lookups disagree");
    }
    (one_at_a_time, best, hits)
}

fn report(kind: &str, count: usize, (single, batched, hits): (f64, f64, usize), what: &str) {
    println!(
        "  {kind:<11} {:>10} single {:>10} batched   {:.0} ns each batched, {:.0}% matched, {what}",
        rate(count, single),
        rate(count, batched),
        batched * 1e9 / count as f64,
        hits as f64 * 100.0 / count as f64
    );
}
