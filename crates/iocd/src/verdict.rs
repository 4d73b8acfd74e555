//! `iocd match`: the verdict for one observed value, and why, offline against a CSV file or
//! from a server.

use crate::indicators::{IndicatorSource, load, now};
use anyhow::{Context, Result, bail};
use clap::Args;
use iocd_engine::{Device, Observable, ObservableKind, Snapshot};
use iocd_service::VerdictReport;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct MatchArgs {
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

pub(crate) fn match_value(args: MatchArgs) -> Result<ExitCode> {
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
