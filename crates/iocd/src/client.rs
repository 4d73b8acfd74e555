//! The client commands: `import` (a file of indicators to a server, through 500-item import
//! calls, so it also works against MDE itself: MDE CSV, STIX, a MISP event or a plain list)
//! and `export` (a tenant's indicators as MDE CSV, JSON, STIX, Zeek intel, Suricata lists or
//! block lists).

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use iocd_model::IndicatorEntity;
use iocd_model::csv_format::CsvWriter;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file to import: MDE CSV, STIX 2.1 JSON (a bundle or objects), a MISP event (JSON)
    /// or a plain list (one value per line); recognised by its content.
    file: PathBuf,
    /// The action of indicators whose format has none (STIX without x_iocd_action, MISP,
    /// lists). Audit raises alerts and blocks nothing.
    #[arg(long, value_enum, default_value = "audit")]
    action: crate::exchange::ActionArg,
    /// The severity of indicators whose format has none.
    #[arg(long, value_enum, default_value = "medium")]
    severity: crate::exchange::SeverityArg,
    /// Scope the indicators of formats without device groups to this group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "IOCD_SERVER")]
    server: String,
    /// Bearer token (see `iocd token create`).
    #[arg(long, env = "IOCD_TOKEN", hide_env_values = true)]
    token: String,
    /// Rows per import call (MDE accepts at most 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    batch_size: u16,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    /// MDE CSV (one file, or 500-row files with --output-dir).
    Csv,
    /// An array of full entities.
    Json,
    /// A STIX 2.1 bundle.
    Stix,
    /// A Zeek intel framework file.
    Zeek,
    /// Suricata lists, iprep files and rules (needs --output-dir).
    Suricata,
    /// The values that block, one per line (per type with --output-dir).
    Text,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[arg(long, env = "IOCD_SERVER")]
    server: String,
    #[arg(long, env = "IOCD_TOKEN", hide_env_values = true)]
    token: String,
    /// csv (MDE's import format), json (an array of full entities), stix, zeek, suricata or
    /// text.
    #[arg(long, value_enum, default_value = "csv")]
    format: ExportFormat,
    /// Write the files of a several-file format here (suricata; text per type; csv in
    /// 500-row files).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// An OData $filter, e.g. "indicatorType eq 'Url'".
    #[arg(long)]
    filter: Option<String>,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// The `--ca-cert` file, set once from the command line.
static CA_CERT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

pub(crate) fn set_ca_cert(path: Option<PathBuf>) {
    let _ = CA_CERT.set(path);
}

/// The HTTP(S) client of the commands that talk to a server: the system's CA certificates,
/// plus those of `--ca-cert`.
pub(crate) fn http_client() -> Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300));
    if let Some(Some(path)) = CA_CERT.get() {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA certificates in {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
        if certificates.is_empty() {
            bail!("{} holds no PEM certificate", path.display());
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().context("cannot create the HTTP client")
}

/// Describes an error response in one line, using MDE's error body when present.
pub(crate) fn describe_failure(status: reqwest::StatusCode, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) if value["error"]["code"].is_string() => {
            format!(
                "{status}: {} ({})",
                value["error"]["message"].as_str().unwrap_or(""),
                value["error"]["code"].as_str().unwrap_or("")
            )
        }
        _ => format!("{status}: {}", body.chars().take(300).collect::<String>()),
    }
}

/// Sends a request, waiting and retrying while the server answers 429.
pub(crate) fn send_with_retry(
    build: impl Fn() -> reqwest::blocking::RequestBuilder,
) -> Result<reqwest::blocking::Response> {
    for _ in 0..20 {
        let response = build().send().context("the request failed")?;
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(5);
        std::thread::sleep(Duration::from_secs(wait.clamp(1, 3600)));
    }
    bail!("the server kept answering 429 Too Many Requests")
}

pub(crate) fn import(args: ImportArgs) -> Result<ExitCode> {
    let defaults = iocd_interop::ImportDefaults {
        action: args.action.action(),
        severity: args.severity.severity(),
        rbac_group_names: args.groups.clone(),
        title_prefix: String::new(),
    };
    let source = crate::exchange::read_source(&args.file, &defaults)?;
    let crate::exchange::Source {
        format,
        rows,
        removals,
        mut failures,
    } = source;
    let total = rows.len() + failures.len();
    let progress = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total as u64)
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.inc(failures.len() as u64);
    let client = http_client()?;
    let url = format!(
        "{}/api/indicators/import",
        args.server.trim_end_matches('/')
    );
    let mut imported = 0usize;
    for batch in rows.chunks(usize::from(args.batch_size)) {
        let body =
            json!({"Indicators": batch.iter().map(|row| &row.submission).collect::<Vec<_>>()});
        let response = send_with_retry(|| client.post(&url).bearer_auth(&args.token).json(&body))?;
        let status = response.status();
        let text = response.text().context("cannot read the server's answer")?;
        if !status.is_success() {
            progress.abandon();
            bail!(
                "the import call for {} to {} failed with {}",
                batch[0].origin,
                batch[batch.len() - 1].origin,
                describe_failure(status, &text)
            );
        }
        let answer: Value =
            serde_json::from_str(&text).context("the server's answer is not JSON")?;
        let results = answer["value"]
            .as_array()
            .context("the server's answer has no value array")?;
        if results.len() != batch.len() {
            bail!(
                "the server answered {} results for {} rows",
                results.len(),
                batch.len()
            );
        }
        for (row, result) in batch.iter().zip(results) {
            if result["isFailed"].as_bool() == Some(true) {
                failures.push((
                    row.key,
                    row.origin.clone(),
                    result["failureReason"]
                        .as_str()
                        .unwrap_or("failed")
                        .to_owned(),
                ));
            } else {
                imported += 1;
            }
        }
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    let removed = remove(&client, &args.server, &args.token, &removals, &mut failures)?;
    failures.sort_by_key(|(key, _, _)| *key);
    for (_, origin, reason) in &failures {
        eprintln!("{origin}: {reason}");
    }
    let unit = if format == "CSV" || format == "list" {
        "rows"
    } else {
        "items"
    };
    eprintln!(
        "{format}: imported {imported} of {total} {unit}; {} failed{}",
        failures.len(),
        if removals.is_empty() {
            String::new()
        } else {
            format!("; {removed} removed (revoked)")
        }
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Deletes the indicators the file revoked (found by type and value); returns how many. A
/// revoked value that is not there is reported.
fn remove(
    client: &reqwest::blocking::Client,
    server: &str,
    token: &str,
    removals: &[iocd_interop::Removal],
    failures: &mut Vec<(u64, String, String)>,
) -> Result<usize> {
    let base = server.trim_end_matches('/');
    let mut ids: Vec<String> = Vec::new();
    for removal in removals {
        let filter = format!(
            "indicatorType eq '{}' and indicatorValue eq '{}'",
            removal.indicator_type.as_str(),
            removal.value.replace('\'', "''")
        );
        let response = send_with_retry(|| {
            client
                .get(format!("{base}/api/indicators"))
                .bearer_auth(token)
                .query(&[("$filter", filter.as_str())])
        })?;
        let status = response.status();
        let text = response.text().context("cannot read the server's answer")?;
        if !status.is_success() {
            failures.push((
                u64::MAX,
                removal.origin.clone(),
                describe_failure(status, &text),
            ));
            continue;
        }
        let page: Value = serde_json::from_str(&text).context("the server's answer is not JSON")?;
        let found: Vec<String> = page["value"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        if found.is_empty() {
            failures.push((
                u64::MAX,
                removal.origin.clone(),
                format!("revoked, but {} is not there to remove", removal.value),
            ));
        }
        ids.extend(found);
    }
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let response = send_with_retry(|| {
            client
                .post(format!("{base}/api/indicators/BatchDelete"))
                .bearer_auth(token)
                .json(&json!({"IndicatorIds": chunk}))
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            bail!(
                "removing revoked indicators failed with {}",
                describe_failure(status, &text)
            );
        }
    }
    Ok(ids.len())
}

/// Where exported indicators go.
enum ExportSink<'a> {
    Csv(Box<CsvWriter<Box<dyn Write>>>),
    /// Kept for a format written once every page is in.
    Collect(&'a mut Vec<IndicatorEntity>),
    Json {
        output: Box<dyn Write>,
        written: usize,
    },
}

impl ExportSink<'_> {
    fn write(&mut self, entity: &Value) -> Result<()> {
        match self {
            ExportSink::Collect(entities) => {
                entities.push(serde_json::from_value(entity.clone()).with_context(|| {
                    format!("the server returned an indicator this client cannot read: {entity}")
                })?)
            }
            ExportSink::Csv(writer) => {
                let indicator: IndicatorEntity = serde_json::from_value(entity.clone())
                    .with_context(|| {
                        format!(
                            "the server returned an indicator this client cannot read: {entity}"
                        )
                    })?;
                writer.write(&indicator)?
            }
            ExportSink::Json { output, written } => {
                output.write_all(if *written == 0 { b"[\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *output, entity)?;
                *written += 1;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            ExportSink::Collect(_) => {}
            ExportSink::Csv(writer) => writer.finish()?.flush()?,
            ExportSink::Json {
                mut output,
                written,
            } => {
                output.write_all(if written == 0 { b"[]\n" } else { b"\n]\n" })?;
                output.flush()?;
            }
        }
        Ok(())
    }
}

pub(crate) fn export(args: ExportArgs) -> Result<ExitCode> {
    let client = http_client()?;
    let output: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let collected = match (args.format, &args.output_dir) {
        (ExportFormat::Stix, _) => Some(crate::exchange::Collected::Stix),
        (ExportFormat::Zeek, _) => Some(crate::exchange::Collected::Zeek),
        (ExportFormat::Suricata, _) => Some(crate::exchange::Collected::Suricata),
        (ExportFormat::Text, _) => Some(crate::exchange::Collected::Text),
        (ExportFormat::Csv, Some(_)) => Some(crate::exchange::Collected::CsvFiles),
        (ExportFormat::Csv, None) => None,
        (ExportFormat::Json, None) => None,
        (ExportFormat::Json, Some(_)) => {
            bail!("--format json writes one file: use --output, not --output-dir")
        }
    };
    if collected == Some(crate::exchange::Collected::Suricata) && args.output_dir.is_none() {
        bail!("--format suricata writes several files: name a directory with --output-dir");
    }
    let mut entities: Vec<IndicatorEntity> = Vec::new();
    let mut sink = match args.format {
        _ if collected.is_some() => ExportSink::Collect(&mut entities),
        ExportFormat::Csv => ExportSink::Csv(Box::new(CsvWriter::new(output)?)),
        _ => ExportSink::Json { output, written: 0 },
    };
    let mut next = Some(format!(
        "{}/api/indicators",
        args.server.trim_end_matches('/')
    ));
    let mut first_page = true;
    let mut exported = 0usize;
    while let Some(url) = next.take() {
        let request = || {
            let builder = client.get(&url).bearer_auth(&args.token);
            match (&args.filter, first_page) {
                (Some(filter), true) => builder.query(&[("$filter", filter.as_str())]),
                _ => builder,
            }
        };
        let response = send_with_retry(request)?;
        let status = response.status();
        let text = response.text().context("cannot read the server's answer")?;
        if !status.is_success() {
            bail!(
                "listing indicators failed with {}",
                describe_failure(status, &text)
            );
        }
        let page: Value = serde_json::from_str(&text).context("the server's answer is not JSON")?;
        for entity in page["value"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            sink.write(entity)?;
            exported += 1;
        }
        next = next_page(&args.server, &page)?;
        first_page = false;
    }
    sink.finish()?;
    if let Some(format) = collected {
        crate::exchange::write_collected(
            format,
            &entities,
            args.output.as_ref(),
            args.output_dir.as_ref(),
        )?;
    }
    eprintln!("exported {exported} indicators");
    Ok(ExitCode::SUCCESS)
}

/// The next page's address from a list answer's `@odata.nextLink`, if the link stays on the
/// origin (scheme, host and port) of `server`: the bearer token goes with the request, so a
/// link elsewhere is refused, not followed.
pub(crate) fn next_page(server: &str, page: &Value) -> Result<Option<String>> {
    let Some(link) = page["@odata.nextLink"].as_str() else {
        return Ok(None);
    };
    let origin = |text: &str| reqwest::Url::parse(text).map(|url| url.origin());
    match (origin(server), origin(link)) {
        (Ok(ours), Ok(theirs)) if ours == theirs => Ok(Some(link.to_owned())),
        _ => bail!(
            "the server's next link {link:?} leaves its origin {server:?}; not following it with the token (set the server's public_url to the address clients use)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::next_page;
    use serde_json::json;

    #[test]
    fn next_links_are_followed_only_on_the_servers_origin() {
        let server = "http://127.0.0.1:8080";
        let page = |link: &str| json!({"@odata.nextLink": link});
        assert_eq!(
            next_page(
                server,
                &page("http://127.0.0.1:8080/api/indicators?$skiptoken=5")
            )
            .unwrap(),
            Some("http://127.0.0.1:8080/api/indicators?$skiptoken=5".to_owned())
        );
        assert_eq!(next_page(server, &json!({"value": []})).unwrap(), None);
        for elsewhere in [
            "http://attacker.example/api/indicators",
            "https://127.0.0.1:8080/api/indicators",
            "http://127.0.0.1:8081/api/indicators",
            "not a url",
        ] {
            assert!(next_page(server, &page(elsewhere)).is_err(), "{elsewhere}");
        }
    }
}
