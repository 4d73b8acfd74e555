//! `iocd scan`: matches an NDJSON file of device events against indicators from an MDE CSV
//! file or a server, on every core, and writes the matches as JSON lines.

use crate::indicators::{IndicatorSource, load, now};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use iocd_engine::{Device, Observable, Snapshot};
use iocd_model::Timestamp;
use iocd_service::VerdictReport;
use iocd_service::events::{EventProfile, extract, extract_mde_line};
use serde_json::Value;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ProfileArg {
    Mde,
    Ecs,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// NDJSON file of events (MDE advanced-hunting or ECS field names).
    events: PathBuf,
    #[command(flatten)]
    source: IndicatorSource,
    /// Field names of the events.
    #[arg(long, value_enum, default_value = "mde")]
    profile: ProfileArg,
    /// Write matches here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// Only parse the events (for measuring); writes nothing.
    #[arg(long)]
    parse_only: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// One line of `iocd scan`'s output: the explanation, then where the match was.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ScanMatch<'a> {
    #[serde(flatten)]
    verdict: VerdictReport,
    line: u64,
    device_id: &'a str,
    timestamp: String,
    field: &'a str,
    value: &'a str,
}

/// What one worker produced for one chunk of lines.
struct ChunkResult {
    lines: u64,
    matches: Vec<String>,
    failures: Vec<String>,
}

fn scan_chunk(
    chunk: &[u8],
    first_line: u64,
    profile: EventProfile,
    snapshot: Option<&Snapshot>,
    now: Timestamp,
) -> ChunkResult {
    let mut result = ChunkResult {
        lines: 0,
        matches: Vec::new(),
        failures: Vec::new(),
    };
    let mut events = Vec::new();
    for (offset, line) in chunk.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        result.lines += 1;
        let number = first_line + offset as u64;
        let event = match profile {
            EventProfile::Mde => extract_mde_line(line, now),
            EventProfile::Ecs => serde_json::from_slice::<Value>(line)
                .map_err(|e| format!("invalid JSON: {e}"))
                .and_then(|v| extract(profile, &v, now)),
        };
        let event = match event {
            Ok(event) => event,
            Err(reason) => {
                result.failures.push(format!("line {number}: {reason}"));
                continue;
            }
        };
        for reason in &event.invalid {
            result.failures.push(format!("line {number}: {reason}"));
        }
        if snapshot.is_some() {
            let device = Device::new(event.device.group.as_slice());
            events.push((number, event, device));
        }
    }
    let Some(snapshot) = snapshot else {
        return result;
    };
    // All the chunk's observables in one batch, so their lookups overlap.
    let items: Vec<(&Observable, &Device)> = events
        .iter()
        .flat_map(|(_, event, device)| event.seen.iter().map(move |s| (&s.observable, device)))
        .collect();
    let mut verdicts = Vec::with_capacity(items.len());
    snapshot.evaluate_batch(&items, now, &mut verdicts);
    let mut verdicts = verdicts.into_iter();
    for (number, event, _) in &events {
        for (seen, verdict) in event.seen.iter().zip(verdicts.by_ref()) {
            if verdict.winner().is_none() {
                continue;
            }
            let record = ScanMatch {
                verdict: VerdictReport::from(&verdict),
                line: *number,
                device_id: &event.device.id,
                timestamp: event.time.to_mde_seconds(),
                field: seen.field,
                value: &seen.value,
            };
            match serde_json::to_string(&record) {
                Ok(line) => result.matches.push(line),
                Err(error) => result.failures.push(format!(
                    "line {number}: the match could not be written: {error}"
                )),
            }
        }
    }
    result
}

/// Reads `input` in chunks that end at a line break, numbering their first lines.
fn next_chunk(
    input: &mut impl Read,
    carry: &mut Vec<u8>,
    size: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut chunk = std::mem::take(carry);
    let start = chunk.len();
    chunk.resize(start + size, 0);
    let mut filled = start;
    while filled < chunk.len() {
        let n = input.read(&mut chunk[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    chunk.truncate(filled);
    if chunk.is_empty() {
        return Ok(None);
    }
    if filled == start + size
        && let Some(last_newline) = chunk.iter().rposition(|b| *b == b'\n')
    {
        *carry = chunk.split_off(last_newline + 1);
    }
    Ok(Some(chunk))
}

pub(crate) fn scan(args: ScanArgs) -> Result<ExitCode> {
    let snapshot = if args.parse_only {
        None
    } else {
        Some(Snapshot::of(load(&args.source)?))
    };
    let profile = match args.profile {
        ProfileArg::Mde => EventProfile::Mde,
        ProfileArg::Ecs => EventProfile::Ecs,
    };
    let file = std::fs::File::open(&args.events)
        .with_context(|| format!("cannot open {}", args.events.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    let mut output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let now = now();
    let started = std::time::Instant::now();
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let (mut lines, mut matches, mut failures) = (0u64, 0u64, 0u64);
    let mut carry = Vec::new();
    let mut next_line = 1u64;
    let mut done = false;
    while !done {
        // One round: read up to `threads` chunks, scan them in parallel, write in order.
        let mut chunks = Vec::with_capacity(threads);
        for _ in 0..threads {
            match next_chunk(&mut input, &mut carry, 4 << 20).context("reading the events")? {
                Some(chunk) => {
                    let first = next_line;
                    next_line += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                    chunks.push((chunk, first));
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        let results: Vec<ChunkResult> = std::thread::scope(|scope| {
            let workers: Vec<_> = chunks
                .iter()
                .map(|(chunk, first)| {
                    let snapshot = snapshot.as_ref();
                    scope.spawn(move || scan_chunk(chunk, *first, profile, snapshot, now))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join())
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|_| anyhow::anyhow!("a scan worker failed"))?;
        for (result, (chunk, _)) in results.into_iter().zip(&chunks) {
            lines += result.lines;
            matches += result.matches.len() as u64;
            failures += result.failures.len() as u64;
            for failure in result.failures.iter().take(20) {
                progress.suspend(|| eprintln!("{}: {failure}", args.events.display()));
            }
            for record in result.matches {
                writeln!(output, "{record}")?;
            }
            progress.inc(chunk.len() as u64);
        }
    }
    output.flush()?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "scanned {lines} events ({:.1} MB) in {seconds:.2} s: {matches} matches, {failures} unreadable events or fields",
        total as f64 / 1e6
    );
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
