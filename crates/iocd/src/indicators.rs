//! Where the offline commands (`iocd scan`, `iocd match`) get their indicators: an MDE CSV
//! file, or a server's indicator list, compiled into a match set.

use anyhow::{Context, Result, bail};
use clap::Args;
use iocd_engine::{EngineIndicator, MatchSet, build_set};
use iocd_model::csv_format::CsvReader;
use iocd_model::{
    Action, IndicatorType, IndicatorValue, Timestamp, ValidationOptions, validate_submission,
};
use serde_json::Value;
use std::path::PathBuf;

/// Where indicators come from.
#[derive(Debug, Args)]
pub(crate) struct IndicatorSource {
    /// An MDE CSV file of indicators (ids are its line numbers).
    #[arg(long, conflicts_with = "server")]
    pub indicators: Option<PathBuf>,
    /// Base URL of a server to read the tenant's indicators from.
    #[arg(long, env = "IOCD_SERVER", requires = "token")]
    pub server: Option<String>,
    /// Bearer token for --server.
    #[arg(long, env = "IOCD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The current time.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_offset_date_time(time::OffsetDateTime::now_utc())
}

fn indicators_from_csv(path: &PathBuf) -> Result<Vec<EngineIndicator>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = CsvReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("in {}", path.display()))?;
    let options = ValidationOptions::csv(now(), false);
    let mut out = Vec::new();
    let mut failures = 0usize;
    for row in reader.by_ref() {
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
    if let Some(error) = reader.take_error() {
        bail!("{}: {error}", path.display());
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
        next = crate::client::next_page(server, &page)?;
    }
    Ok(out)
}

pub(crate) fn load(source: &IndicatorSource) -> Result<MatchSet> {
    let indicators = match (&source.indicators, &source.server, &source.token) {
        (Some(path), _, _) => indicators_from_csv(path)?,
        (None, Some(server), Some(token)) => indicators_from_server(server, token)?,
        _ => bail!("give --indicators FILE.csv, or --server URL with --token TOKEN"),
    };
    Ok(build_set(&indicators))
}
