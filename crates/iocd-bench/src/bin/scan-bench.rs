//! Benchmarks `iocd scan` on a generated NDJSON file of MDE events against 100,000
//! indicators, side by side with `rg -F -f` given the same indicator values as fixed strings,
//! and with `iocd scan --parse-only` (the cost of reading the events alone).
//!
//! Usage: `scan-bench [--size-mb N] [--indicators N] [--data DIR] [--iocd PATH]`
//! (defaults 1024, 100,000, bench-data/real, target/release/iocd). The generated files are
//! kept in bench-data/ and reused when they already have the requested size.

use anyhow::{Context, Result, bail};
use iocd_bench::{RealData, Rng, indicator_set};
use iocd_engine::EngineIndicator;
use iocd_model::IndicatorType;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn write_indicators(indicators: &[EngineIndicator], csv: &Path, values: &Path) -> Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(csv)?);
    writeln!(
        out,
        "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert"
    )?;
    let mut fixed = BufWriter::new(std::fs::File::create(values)?);
    for indicator in indicators {
        let indicator_type = indicator.value.indicator_type();
        let value = indicator.value.to_string();
        let action = match indicator.action.as_str() {
            "Audit" => "Audit",
            "Allowed" => "Allowed",
            "Warn" if !indicator_type.is_file_like() => "Warn",
            _ if indicator_type.is_file_like() => "BlockAndRemediate",
            _ => "Block",
        };
        writeln!(
            out,
            "{},{},,{action},Medium,bench,generated,,,,,{}",
            indicator_type,
            value,
            action == "Audit" || indicator.generate_alert
        )?;
        // What a grep user would search for: the value as it appears in events.
        let text = match indicator_type {
            IndicatorType::Url => value.split_once("://").map_or(&*value, |(_, r)| r),
            IndicatorType::IpAddress => value.split('/').next().unwrap_or(&value),
            _ => &value,
        };
        writeln!(fixed, "{text}")?;
    }
    out.flush()?;
    fixed.flush()?;
    Ok(())
}

/// Writes about `bytes` of MDE DeviceFileEvents / DeviceNetworkEvents rows; about 1 in 200
/// observables comes from the indicator set.
fn write_events(
    path: &Path,
    bytes: u64,
    indicators: &[EngineIndicator],
    data: &RealData,
) -> Result<()> {
    let mut rng = Rng(0xE7E7_1234_5678_9ABD);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let of = |t: IndicatorType| -> Vec<&EngineIndicator> {
        indicators
            .iter()
            .filter(|i| i.value.indicator_type() == t)
            .collect()
    };
    let sha256 = of(IndicatorType::FileSha256);
    let domains = of(IndicatorType::DomainName);
    let urls = of(IndicatorType::Url);
    let mut written = 0u64;
    let mut n = 0u64;
    while written < bytes {
        n += 1;
        let device = rng.below(5000);
        let hit = rng.below(200) == 0;
        let second = n % 86_400;
        let line = if n.is_multiple_of(2) {
            let hash = if hit && !sha256.is_empty() {
                sha256[rng.below(sha256.len())].value.to_string()
            } else {
                rng.hex(64)
            };
            format!(
                r#"{{"Timestamp":"2026-03-01T{:02}:{:02}:{:02}Z","DeviceId":"{device:040x}","DeviceName":"pc{device}.corp.example","ActionType":"FileCreated","FileName":"setup{n}.exe","FolderPath":"C:\\Users\\u{device}\\Downloads\\setup{n}.exe","SHA1":"{}","SHA256":"{hash}","MD5":"{}","FileSize":{},"InitiatingProcessFileName":"msedge.exe","InitiatingProcessSHA256":"{}","InitiatingProcessAccountName":"user{device}","ReportId":{n}}}"#,
                second / 3600,
                second / 60 % 60,
                second % 60,
                rng.hex(40),
                rng.hex(32),
                rng.below(50_000_000),
                rng.hex(64)
            )
        } else {
            let url = if hit && !urls.is_empty() && rng.below(2) == 0 {
                format!("{}/download", urls[rng.below(urls.len())].value)
            } else if hit && !domains.is_empty() {
                format!("https://www.{}/", domains[rng.below(domains.len())].value)
            } else {
                format!(
                    "https://{}{}",
                    data.origins[rng.below(data.origins.len())],
                    rng.path()
                )
            };
            format!(
                r#"{{"Timestamp":"2026-03-01T{:02}:{:02}:{:02}Z","DeviceId":"{device:040x}","DeviceName":"pc{device}.corp.example","ActionType":"ConnectionSuccess","RemoteIP":"{}","RemotePort":443,"RemoteUrl":"{url}","LocalIP":"10.{}.{}.{}","Protocol":"Tcp","InitiatingProcessFileName":"chrome.exe","InitiatingProcessSHA256":"{}","ReportId":{n}}}"#,
                second / 3600,
                second / 60 % 60,
                second % 60,
                std::net::Ipv4Addr::from(rng.next_u64() as u32),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.hex(64)
            )
        };
        writeln!(out, "{line}")?;
        written += line.len() as u64 + 1;
    }
    out.flush()?;
    Ok(())
}

/// Runs `command`, returning the seconds it took and its standard error.
fn timed(command: &mut Command) -> Result<(f64, String)> {
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    // rg exits 1 when nothing matched; iocd scan exits 1 when some events were unreadable.
    if output.status.code().is_none_or(|c| c > 1) {
        bail!("{command:?} failed with {}", output.status);
    }
    Ok((
        seconds,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Runs an `iocd scan` and insists it got to the end (its last line is the summary).
fn timed_scan(command: &mut Command) -> Result<f64> {
    let (seconds, stderr) = timed(command)?;
    let Some(summary) = stderr.lines().rev().find(|l| l.starts_with("scanned ")) else {
        bail!("iocd scan did not finish: {stderr}");
    };
    eprintln!("    {summary}");
    Ok(seconds)
}

fn main() -> Result<()> {
    let size_mb: u64 = arg("--size-mb")
        .map_or(Ok(1024), |v| v.parse())
        .context("--size-mb")?;
    let count: usize = arg("--indicators")
        .map_or(Ok(100_000), |v| v.parse())
        .context("--indicators")?;
    let data_dir = PathBuf::from(arg("--data").unwrap_or_else(|| "bench-data/real".into()));
    let iocd = PathBuf::from(arg("--iocd").unwrap_or_else(|| {
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()) + "/release/iocd"
    }));
    let data = RealData::load(&data_dir)?;
    let dir = data_dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    let csv = dir.join(format!("indicators-{count}.csv"));
    let values = dir.join(format!("indicator-values-{count}.txt"));
    let events = dir.join(format!("events-{size_mb}mb.jsonl"));
    let indicators = indicator_set(&data, count, &mut Rng(0x5CA9_0000_0000_0001));
    write_indicators(&indicators, &csv, &values)?;
    let wanted = size_mb * 1024 * 1024;
    if std::fs::metadata(&events).map(|m| m.len()).unwrap_or(0) < wanted {
        eprintln!("generating {} ...", events.display());
        write_events(&events, wanted, &indicators, &data)?;
    }
    let bytes = std::fs::metadata(&events)?.len();
    let lines = std::fs::read(&events).map(|b| b.iter().filter(|c| **c == b'\n').count())?;
    println!(
        "scan benchmark: {:.0} MB, {lines} MDE events, {count} indicators, {} threads",
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // Warm the page cache so every contender reads from memory.
    timed(Command::new("cat").arg(&events))?;
    let parse = timed_scan(
        Command::new(&iocd)
            .args(["scan", "--parse-only", "--quiet"])
            .arg(&events),
    )?;
    let scan = timed_scan(
        Command::new(&iocd)
            .args(["scan", "--quiet", "--output", "/dev/null", "--indicators"])
            .arg(&csv)
            .arg(&events),
    )?;
    let (rg, _) = timed(
        Command::new("rg")
            .args(["-F", "-c", "-f"])
            .arg(&values)
            .arg(&events),
    )?;
    let mb = bytes as f64 / 1e6;
    println!(
        "  iocd scan --parse-only  {parse:>7.2} s  {:>6.0} MB/s",
        mb / parse
    );
    println!(
        "  iocd scan               {scan:>7.2} s  {:>6.0} MB/s",
        mb / scan
    );
    println!(
        "  rg -F -f (100k values)  {rg:>7.2} s  {:>6.0} MB/s",
        mb / rg
    );
    println!("  rg / iocd scan = {:.1}x (target >= 5)", rg / scan);
    println!(
        "  iocd scan / parse-only = {:.2}x (target <= 2)",
        scan / parse
    );
    Ok(())
}
