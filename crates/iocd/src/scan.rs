//! The offline engines: `iocd scan` matches an NDJSON file of device events against
//! indicators from an MDE CSV file or a server, on every core, and writes the matches as JSONL;
//! `iocd match` prints the verdict for one value and why.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use iocd_engine::{
    Device, EngineIndicator, MatchSet, Observable, ObservableKind, Snapshot, build_set,
};
use iocd_model::csv_format::CsvReader;
use iocd_model::{
    Action, IndicatorType, IndicatorValue, Timestamp, ValidationOptions, validate_submission,
};
use iocd_service::VerdictReport;
use iocd_service::events::{EventProfile, extract, extract_mde_line};
use serde_json::{Value, json};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Where indicators come from.
#[derive(Debug, Args)]
pub struct IndicatorSource {
    /// An MDE CSV file of indicators (ids are its line numbers).
    #[arg(long, conflicts_with = "server")]
    indicators: Option<PathBuf>,
    /// Base URL of a server to read the tenant's indicators from.
    #[arg(long, env = "IOCD_SERVER", requires = "token")]
    server: Option<String>,
    /// Bearer token for --server.
    #[arg(long, env = "IOCD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    Mde,
    Ecs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
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

#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The observed value: a hash, IP address, host name or URL.
    value: String,
    /// Its type, when guessing from its shape is not enough (FileSha256, FileSha1, FileMd5,
    /// CertificateThumbprint, IpAddress, DomainName, Url).
    #[arg(long = "type")]
    kind: Option<String>,
    /// A device group the device belongs to; repeat for several.
    #[arg(long = "group")]
    groups: Vec<String>,
    #[command(flatten)]
    source: IndicatorSource,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn now() -> Timestamp {
    Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc())
}

fn indicators_from_csv(path: &PathBuf) -> Result<Vec<EngineIndicator>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = CsvReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("in {}", path.display()))?;
    let options = ValidationOptions::csv(now(), false);
    let mut out = Vec::new();
    let mut failures = 0usize;
    for row in reader {
        let spec = row
            .submission
            .map_err(|e| e.message)
            .and_then(|s| validate_submission(&s, &options).map_err(|e| e.message));
        match spec {
            Ok(spec) => out.push(EngineIndicator {
                id: row.line as i64,
                value: spec.value,
                action: spec.action,
                groups: spec.rbac_group_names,
                expires: spec.expiration_time,
                generate_alert: spec.generate_alert,
            }),
            Err(reason) => {
                failures += 1;
                eprintln!("{}: line {}: {reason}", path.display(), row.line);
            }
        }
    }
    if failures > 0 {
        bail!(
            "{failures} indicator rows of {} are invalid",
            path.display()
        );
    }
    Ok(out)
}

fn indicators_from_server(server: &str, token: &str) -> Result<Vec<EngineIndicator>> {
    let client = crate::client::http_client()?;
    let mut next = Some(format!("{}/api/indicators", server.trim_end_matches('/')));
    let mut out = Vec::new();
    while let Some(url) = next.take() {
        let response = crate::client::send_with_retry(|| client.get(&url).bearer_auth(token))?;
        let status = response.status();
        let text = response.text().context("cannot read the server's answer")?;
        if !status.is_success() {
            bail!(
                "listing indicators failed with {}",
                crate::client::describe_failure(status, &text)
            );
        }
        let page: Value = serde_json::from_str(&text).context("the server's answer is not JSON")?;
        for entity in page["value"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let field = |name: &str| entity[name].as_str().unwrap_or_default();
            let value = IndicatorType::parse(field("indicatorType"))
                .and_then(|t| IndicatorValue::parse(t, field("indicatorValue"), true).ok());
            let (Some(value), Some(action), Ok(id)) = (
                value,
                Action::parse(field("action")),
                field("id").parse::<i64>(),
            ) else {
                bail!("the server returned an indicator this client cannot read: {entity}");
            };
            out.push(EngineIndicator {
                id,
                value,
                action,
                groups: entity["rbacGroupNames"]
                    .as_array()
                    .map(|g| {
                        g.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                expires: entity["expirationTime"].as_str().and_then(Timestamp::parse),
                generate_alert: entity["generateAlert"].as_bool().unwrap_or(false),
            });
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    Ok(out)
}

fn load(source: &IndicatorSource) -> Result<MatchSet> {
    let indicators = match (&source.indicators, &source.server, &source.token) {
        (Some(path), _, _) => indicators_from_csv(path)?,
        (None, Some(server), Some(token)) => indicators_from_server(server, token)?,
        _ => bail!("give --indicators FILE.csv, or --server URL with --token TOKEN"),
    };
    Ok(build_set(&indicators))
}

/// Guesses an observable's type from its shape.
fn guess_kind(value: &str) -> ObservableKind {
    let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
    if value.contains("://") {
        ObservableKind::Url
    } else if hex && value.len() == 64 {
        ObservableKind::FileSha256
    } else if hex && value.len() == 40 {
        ObservableKind::FileSha1
    } else if hex && value.len() == 32 {
        ObservableKind::FileMd5
    } else if iocd_engine::observable::parse_ip(value).is_ok() {
        ObservableKind::IpAddress
    } else {
        ObservableKind::DomainName
    }
}

pub fn match_value(args: MatchArgs) -> Result<ExitCode> {
    let kind = match &args.kind {
        Some(name) => {
            ObservableKind::parse(name).with_context(|| format!("unknown --type {name}"))?
        }
        None => guess_kind(&args.value),
    };
    let kind_name = format!("{kind:?}");
    let result: Value = match (
        &args.source.server,
        &args.source.token,
        &args.source.indicators,
    ) {
        (Some(server), Some(token), None) => {
            let client = crate::client::http_client()?;
            let body = json!({"device": {"groups": args.groups},
                "observables": [{"type": kind_name, "value": args.value}]});
            let url = format!("{}/api/match", server.trim_end_matches('/'));
            let response = crate::client::send_with_retry(|| {
                client.post(&url).bearer_auth(token).json(&body)
            })?;
            let status = response.status();
            let text = response.text().context("cannot read the server's answer")?;
            if !status.is_success() {
                bail!(
                    "matching failed with {}",
                    crate::client::describe_failure(status, &text)
                );
            }
            let mut reply: Value = serde_json::from_str(&text).context("the answer is not JSON")?;
            reply["value"][0].take()
        }
        _ => {
            let set = load(&args.source)?;
            let observable =
                Observable::parse(kind, &args.value).map_err(|e| anyhow::anyhow!("{e}"))?;
            let verdict =
                Snapshot::of(set).evaluate(&observable, &Device::new(&args.groups), now());
            let report = OneVerdict {
                kind: &kind_name,
                value: &args.value,
                verdict: VerdictReport::from(&verdict),
            };
            serde_json::to_value(report).context("writing the verdict")?
        }
    };
    if let Some(reason) = result["failureReason"].as_str() {
        bail!("{reason}");
    }
    if args.json {
        println!("{result}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {}",
        result["type"].as_str().unwrap_or(&kind_name),
        args.value
    );
    match result["action"].as_str() {
        None => println!("  no indicator matches"),
        Some(action) => println!(
            "  action: {action} (indicator {}, decided by {})",
            result["indicatorId"].as_str().unwrap_or("?"),
            result["rule"].as_str().unwrap_or("?")
        ),
    }
    for item in result["explanation"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "  matched {:>8}  {:<22} {:<18} {} specificity {}{}",
            item["indicatorId"].as_str().unwrap_or("?"),
            item["indicatorType"].as_str().unwrap_or("?"),
            item["action"].as_str().unwrap_or("?"),
            if item["scoped"].as_bool() == Some(true) {
                "group-scoped,"
            } else {
                "all devices, "
            },
            item["specificity"],
            if item["generateAlert"].as_bool() == Some(true) {
                ", alerts"
            } else {
                ""
            },
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The verdict `iocd match` prints: the observable, then the explanation.
#[derive(serde::Serialize)]
struct OneVerdict<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    value: &'a str,
    #[serde(flatten)]
    verdict: VerdictReport,
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

pub fn scan(args: ScanArgs) -> Result<ExitCode> {
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
