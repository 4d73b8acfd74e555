//! Feeds: remote sources of indicators polled on a schedule — plain lists (one value per
//! line), MISP feed directories (`manifest.json` and one JSON file per event) and TAXII 2.1
//! collections — each written into a tenant with the feed's action, severity, device groups and
//! expiry, as the application `feed:<name>`. A list or MISP feed is a full snapshot: with
//! `removed = "delete"`, what the feed created and no longer lists is deleted. A TAXII feed is
//! read incrementally (`added_after`); its revoked objects remove the feed's own indicators of
//! those values.
//!
//! Feeds are configured in the configuration file (`[[feeds]]`) or through the API
//! (`POST /api/feeds`, stored; `DELETE /api/feeds/{name}`); `GET /api/feeds` shows each
//! feed's last run, counts and errors, and `POST /api/feeds/{name}/run` runs one now.
//!
//! Only the leader runs feeds. What a run leaves (its status, a TAXII feed's cursor, the next
//! run's time) and requests to run a feed now are records in the store
//! ([`iocd_store::records`]), so every node shows the same status, a request made on any node
//! reaches the leader, and a new leader carries on where the old one stopped.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use iocd_interop::{ImportBatch, ImportDefaults, misp, plain, stix};
use iocd_model::{Action, IndicatorSubmission, IndicatorType, Severity, Timestamp};
use iocd_store::odata::{CompareOp, Field, Filter, Literal, Subject};
use iocd_store::records::{RecordKind, StoredRecord};
use iocd_store::{Actor, ListQuery, UpsertOutcome, Visibility, WriteContext};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What a feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// One value per line.
    List,
    /// A MISP feed directory: `manifest.json` and `<event uuid>.json`.
    Misp,
    /// A TAXII 2.1 collection's objects URL.
    Taxii,
}

/// What happens to indicators a snapshot feed no longer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Removed {
    #[default]
    Keep,
    Delete,
}

fn default_interval() -> u64 {
    60
}

fn default_action() -> Action {
    Action::Audit
}

fn default_severity() -> Severity {
    Severity::Medium
}

fn default_max_events() -> usize {
    1000
}

/// One `[[feeds]]` table, or the body of `POST /api/feeds` (whose tenant is the token's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Unique per tenant; the feed writes as the application `feed:<name>`.
    pub name: String,
    pub tenant: String,
    pub kind: FeedKind,
    /// `https://…`, `http://…` or `file://…` (a list file, a MISP directory, or a TAXII
    /// collection's objects URL).
    pub url: String,
    #[serde(default = "default_interval")]
    pub interval_minutes: u64,
    #[serde(default = "default_action")]
    #[schema(value_type = String)]
    pub action: Action,
    #[serde(default = "default_severity")]
    #[schema(value_type = String)]
    pub severity: Severity,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Days until what the feed writes expires (none: never), and per indicator type.
    pub expiry_days: Option<u32>,
    #[serde(default)]
    pub expiry_days_by_type: HashMap<String, u32>,
    #[serde(default)]
    pub removed: Removed,
    /// TAXII: a bearer token, or a user and password.
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// MISP: most events read per run.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
}

impl FeedConfig {
    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.tenant.trim().is_empty() {
            return Err("every feed needs a name and a tenant".into());
        }
        if !["http://", "https://", "file://"]
            .iter()
            .any(|s| self.url.starts_with(s))
        {
            return Err(format!(
                "feed {}: url must start with http://, https:// or file://",
                self.name
            ));
        }
        for name in self.expiry_days_by_type.keys() {
            if IndicatorType::parse(name).is_none() {
                return Err(format!(
                    "feed {}: expiry_days_by_type names {name:?}, not an indicator type",
                    self.name
                ));
            }
        }
        if self.interval_minutes == 0 {
            return Err(format!(
                "feed {}: interval_minutes is at least 1",
                self.name
            ));
        }
        Ok(())
    }

    fn app_id(&self) -> String {
        format!("feed:{}", self.name)
    }
}

/// A feed's last run, as `GET /api/feeds` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct FeedStatus {
    pub name: String,
    /// `config` (the configuration file) or `api`.
    pub origin: String,
    pub kind: Option<FeedKind>,
    /// The URL without credentials or query.
    pub source: String,
    pub interval_minutes: u64,
    pub running: bool,
    pub last_run_start: Option<String>,
    pub last_run_end: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub next_run: Option<String>,
    /// What the last run read, wrote, could not write, and removed.
    pub items: u64,
    pub written: u64,
    pub failed: u64,
    pub removed: u64,
    /// The first failures of the last run: where in the feed, and why.
    pub failures: Vec<FeedFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedFailure {
    pub origin: String,
    pub reason: String,
}

/// What the store keeps of a feed between runs (a [`RecordKind::FeedRun`] record named after
/// the feed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct FeedRun {
    /// The last run, as `GET /api/feeds` shows it.
    status: FeedStatus,
    /// TAXII feeds: the last `date_added` read.
    cursor: Option<String>,
    /// When the feed next runs (ticks); none before its first run.
    next_run: Option<i64>,
}

/// The feed runner of this node: wakes its loop when a feed is added or asked to run here.
#[derive(Debug, Default)]
pub struct FeedRunner {
    wake: tokio::sync::Notify,
}

const MAX_LISTED_FAILURES: usize = 20;
const WRITE_CHUNK: usize = 5000;
const MAX_BODY: usize = 512 * 1024 * 1024;

fn key(feed: &FeedConfig) -> (String, String) {
    (feed.tenant.clone(), feed.name.clone())
}

/// Every feed's stored run, by tenant and name (a record that does not read is logged and
/// left out: the feed then runs as if for the first time).
async fn stored_runs(state: &AppState) -> HashMap<(String, String), FeedRun> {
    let records = match state
        .blocking(|service| service.records().records(RecordKind::FeedRun))
        .await
    {
        Ok(records) => records,
        Err(error) => {
            tracing::warn!(message = %error.message, "the feeds' runs could not be read");
            return HashMap::new();
        }
    };
    records
        .into_iter()
        .filter_map(|record| match serde_json::from_str::<FeedRun>(&record.body) {
            Ok(run) => Some(((record.tenant, record.name), run)),
            Err(error) => {
                tracing::warn!(feed = %record.name, tenant = %record.tenant, %error, "a stored feed run does not read");
                None
            }
        })
        .collect()
}

/// The stored run of one feed (default before its first run).
async fn stored_run(state: &AppState, feed: &FeedConfig) -> FeedRun {
    let (tenant, name) = key(feed);
    match state
        .blocking(move |service| service.records().record(RecordKind::FeedRun, &tenant, &name))
        .await
    {
        Ok(Some(record)) => serde_json::from_str(&record.body).unwrap_or_else(|error| {
            tracing::warn!(feed = %feed.name, tenant = %feed.tenant, %error, "a stored feed run does not read");
            FeedRun::default()
        }),
        Ok(None) => FeedRun::default(),
        Err(error) => {
            tracing::warn!(feed = %feed.name, message = %error.message, "a feed's run could not be read");
            FeedRun::default()
        }
    }
}

/// Stores a feed's run for every node to see (a failure is logged: the run itself is done).
async fn save_run(state: &AppState, feed: &FeedConfig, run: &FeedRun) {
    save_run_of(state, key(feed), run).await;
}

/// [`save_run`] for the feed named `name` of `tenant`.
async fn save_run_of(state: &AppState, (tenant, name): (String, String), run: &FeedRun) {
    let body = match serde_json::to_string(run) {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(feed = %name, %error, "a feed run could not be written");
            return;
        }
    };
    let record = StoredRecord {
        kind: RecordKind::FeedRun,
        tenant,
        name,
        body,
        updated: state.now(),
    };
    if let Err(error) = state
        .blocking(move |service| service.records().put_record(&record, None))
        .await
    {
        tracing::warn!(message = %error.message, "a feed run could not be stored");
    }
}

/// Runs the stored runs say are running cannot be, on a node that has just taken the lead: the
/// node that ran them died or lost the lead. Each is marked interrupted and due now, so the
/// new leader runs the feed again at once.
async fn recover_interrupted_runs(state: &AppState) {
    let now = state.now();
    for (key, mut run) in stored_runs(state).await {
        if !run.status.running {
            continue;
        }
        tracing::warn!(feed = %key.1, tenant = %key.0, "a feed run was interrupted; it runs again");
        run.status.running = false;
        run.status.last_run_end = Some(now.to_mde_precise());
        run.status.last_error = Some(
            "The run was interrupted: the node running it stopped or lost the lead. It runs again now."
                .to_owned(),
        );
        run.status.next_run = Some(now.to_mde_seconds());
        run.next_run = Some(now.ticks());
        save_run_of(state, key, &run).await;
    }
}

fn shown_source(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => without_query.to_owned(),
        },
        None => without_query.to_owned(),
    }
}

/// Fetches `url` (`file://` reads the file).
async fn fetch(client: &reqwest::Client, feed: &FeedConfig, url: &str) -> Result<Vec<u8>, String> {
    fetch_with_header(client, feed, url, "")
        .await
        .map(|(body, _)| body)
}

/// Fetches `url`, and the value of the answer's header `header`.
async fn fetch_with_header(
    client: &reqwest::Client,
    feed: &FeedConfig,
    url: &str,
    header: &str,
) -> Result<(Vec<u8>, Option<String>), String> {
    if let Some(path) = url.strip_prefix("file://") {
        let path = path.to_owned();
        return tokio::task::spawn_blocking(move || {
            std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
        .map(|body| (body, None));
    }
    let mut request = client.get(url).header(
        "Accept",
        "application/taxii+json;version=2.1, application/json, text/plain, */*",
    );
    if let Some(token) = &feed.token {
        request = request.bearer_auth(token);
    } else if let Some(user) = &feed.username {
        request = request.basic_auth(user, feed.password.as_deref());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{}: {e}", shown_source(url)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{} answered {status}", shown_source(url)));
    }
    let found = (!header.is_empty())
        .then(|| response.headers().get(header))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{}: {e}", shown_source(url)))?;
    if bytes.len() > MAX_BODY {
        return Err(format!(
            "{} sent more than {MAX_BODY} bytes",
            shown_source(url)
        ));
    }
    Ok((bytes.to_vec(), found))
}

fn json_of(bytes: &[u8], what: &str) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("{what} is not JSON: {e}"))
}

fn merge(into: &mut ImportBatch, from: ImportBatch) {
    into.items.extend(from.items);
    into.removals.extend(from.removals);
    into.problems.extend(from.problems);
}

/// Reads the feed: its items, removals and problems, and (TAXII) the new cursor.
async fn read_feed(
    client: &reqwest::Client,
    cursor: Option<String>,
    feed: &FeedConfig,
    defaults: &ImportDefaults,
) -> Result<(ImportBatch, Option<String>), String> {
    match feed.kind {
        FeedKind::List => {
            let bytes = fetch(client, feed, &feed.url).await?;
            Ok((
                plain::read(&String::from_utf8_lossy(&bytes), &feed.name, defaults),
                None,
            ))
        }
        FeedKind::Misp => {
            let base = feed.url.trim_end_matches('/');
            let manifest = json_of(
                &fetch(client, feed, &format!("{base}/manifest.json")).await?,
                "manifest.json",
            )?;
            let Some(events) = manifest.as_object() else {
                return Err("manifest.json is not an object of events".into());
            };
            let mut uuids: Vec<&String> = events.keys().collect();
            uuids.sort();
            let mut batch = ImportBatch::default();
            for uuid in uuids.into_iter().take(feed.max_events) {
                if !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                    batch.problems.push(iocd_interop::Problem {
                        origin: format!("event {uuid}"),
                        reason: "not an event id".into(),
                    });
                    continue;
                }
                match fetch(client, feed, &format!("{base}/{uuid}.json"))
                    .await
                    .and_then(|b| json_of(&b, uuid))
                {
                    Ok(event) => merge(&mut batch, misp::read(&event, defaults)),
                    Err(reason) => batch.problems.push(iocd_interop::Problem {
                        origin: format!("event {uuid}"),
                        reason,
                    }),
                }
            }
            Ok((batch, None))
        }
        FeedKind::Taxii => {
            let mut batch = ImportBatch::default();
            let mut next: Option<String> = None;
            let mut newest = cursor.clone();
            for _ in 0..10_000 {
                let mut url = format!("{}?limit=1000", feed.url);
                if let Some(after) = &cursor {
                    url.push_str(&format!("&added_after={after}"));
                }
                if let Some(token) = &next {
                    url.push_str(&format!("&next={token}"));
                }
                let (body, last) =
                    fetch_with_header(client, feed, &url, "x-taxii-date-added-last").await?;
                let envelope = json_of(&body, "the TAXII answer")?;
                let objects = envelope["objects"].as_array().cloned().unwrap_or_default();
                merge(&mut batch, stix::read(&Value::Array(objects), defaults));
                if last.is_some() {
                    newest = last;
                }
                match envelope["next"].as_str() {
                    Some(token) if envelope["more"] == true => next = Some(token.to_owned()),
                    _ => break,
                }
            }
            Ok((batch, newest))
        }
    }
}

/// One run of one feed, now: its status (stored) says it is running, then how it ended; its
/// next run is due `interval_minutes` after this one started.
pub async fn run_feed(state: &AppState, feed: &FeedConfig) {
    let mut stored = stored_run(state, feed).await;
    let started = state.now();
    let next = started.plus_seconds(feed.interval_minutes.min(1 << 20) as i64 * 60);
    stored.next_run = Some(next.ticks());
    let status = &mut stored.status;
    status.running = true;
    status.last_run_start = Some(started.to_mde_precise());
    status.next_run = Some(next.to_mde_seconds());
    save_run(state, feed, &stored).await;
    let outcome = run(state, feed, started, stored.cursor.clone()).await;
    let ended = state.now();
    let status = &mut stored.status;
    status.running = false;
    status.last_run_end = Some(ended.to_mde_precise());
    match outcome {
        Ok(report) => {
            status.last_success = Some(ended.to_mde_precise());
            status.last_error = None;
            status.items = report.items;
            status.written = report.written;
            status.failed = report.failures.len() as u64;
            status.removed = report.removed;
            status.failures = report
                .failures
                .into_iter()
                .take(MAX_LISTED_FAILURES)
                .collect();
            tracing::info!(feed = %feed.name, tenant = %feed.tenant, written = status.written, failed = status.failed, removed = status.removed, "feed run done");
            if report.cursor.is_some() {
                stored.cursor = report.cursor;
            }
        }
        Err(error) => {
            tracing::warn!(feed = %feed.name, tenant = %feed.tenant, %error, "feed run failed");
            status.last_error = Some(error);
        }
    }
    save_run(state, feed, &stored).await;
}

struct RunReport {
    /// TAXII feeds: the newest `date_added` read.
    cursor: Option<String>,
    items: u64,
    written: u64,
    removed: u64,
    failures: Vec<FeedFailure>,
}

async fn run(
    state: &AppState,
    feed: &FeedConfig,
    now: Timestamp,
    cursor: Option<String>,
) -> Result<RunReport, String> {
    crate::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let defaults = ImportDefaults {
        action: feed.action,
        severity: feed.severity,
        rbac_group_names: feed.groups.clone(),
        title_prefix: String::new(),
    };
    let (batch, cursor) = read_feed(&client, cursor, feed, &defaults).await?;
    let mut failures: Vec<FeedFailure> = batch
        .problems
        .iter()
        .map(|p| FeedFailure {
            origin: p.origin.clone(),
            reason: p.reason.clone(),
        })
        .collect();
    let options = crate::indicators::validation_options(state);
    let actor = Actor {
        id: feed.app_id(),
        display_name: format!("Feed {}", feed.name),
        source: "Feed".to_owned(),
    };
    let context = WriteContext {
        now,
        visibility: Visibility::All,
        max_active: state.config().max_active_indicators,
    };
    let mut listed: HashSet<(String, String)> = HashSet::new();
    let items = batch.items.len() as u64;
    let mut written = 0u64;
    for chunk in batch.items.chunks(WRITE_CHUNK) {
        let origins: Vec<String> = chunk.iter().map(|i| i.origin.clone()).collect();
        let validated: Vec<Result<iocd_model::IndicatorSpec, String>> = chunk
            .iter()
            .map(|item| {
                let mut submission = item.submission.clone();
                let indicator_type = submission["indicatorType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let days = feed
                    .expiry_days_by_type
                    .get(&indicator_type)
                    .copied()
                    .or(feed.expiry_days);
                if let (Some(days), false) = (days, submission.contains_key("expirationTime")) {
                    let expiry = now.plus_seconds(i64::from(days) * 86_400);
                    submission.insert("expirationTime".into(), json!(expiry.to_mde_seconds()));
                }
                let submission: IndicatorSubmission =
                    serde_json::from_value(Value::Object(submission)).map_err(|e| e.to_string())?;
                let spec = iocd_model::validate_submission(&submission, &options)
                    .map_err(|e| e.message)?;
                Ok(spec)
            })
            .collect();
        for spec in validated.iter().flatten() {
            listed.insert((
                spec.indicator_type().as_str().to_owned(),
                spec.value.to_string(),
            ));
        }
        let tenant = feed.tenant.clone();
        let (actor, context) = (actor.clone(), context.clone());
        let outcomes = state
            .blocking(move |service| service.upsert_validated(&tenant, &actor, &context, validated))
            .await
            .map_err(|e| e.message)?;
        for (origin, outcome) in origins.into_iter().zip(outcomes) {
            match outcome {
                Ok(UpsertOutcome::Created(_) | UpsertOutcome::Updated(_)) => written += 1,
                Ok(UpsertOutcome::Failed { message, .. }) | Err(message) => {
                    failures.push(FeedFailure {
                        origin,
                        reason: message,
                    })
                }
            }
        }
    }
    let mut doomed: Vec<i64> = Vec::new();
    for removal in &batch.removals {
        if let Ok(value) =
            iocd_model::IndicatorValue::parse(removal.indicator_type, &removal.value, true)
        {
            doomed.extend(find(state, feed, removal.indicator_type, value.to_string(), now).await?);
        }
    }
    if feed.removed == Removed::Delete && feed.kind != FeedKind::Taxii {
        for indicator in find_all(state, feed, now).await? {
            if !listed.contains(&(indicator.1.clone(), indicator.2.clone())) {
                doomed.push(indicator.0);
            }
        }
    }
    doomed.sort_unstable();
    doomed.dedup();
    let mut removed = 0;
    for chunk in doomed.chunks(WRITE_CHUNK) {
        let ids = chunk.to_vec();
        let tenant = feed.tenant.clone();
        let (actor, context) = (actor.clone(), context.clone());
        let outcome = state
            .blocking(move |service| service.delete(&tenant, &ids, &actor, &context))
            .await
            .map_err(|e| e.message)?;
        if let iocd_store::DeleteOutcome::Deleted(n) = outcome {
            removed += n;
        }
    }
    Ok(RunReport {
        cursor,
        items,
        written,
        removed,
        failures,
    })
}

fn created_by(feed: &FeedConfig) -> Filter {
    Filter::Compare {
        subject: Subject::Field(Field::CreatedBy),
        op: CompareOp::Eq,
        value: Literal::Text(feed.app_id()),
    }
}

/// The ids of the feed's own indicators of one type and value (never another application's).
async fn find(
    state: &AppState,
    feed: &FeedConfig,
    indicator_type: IndicatorType,
    value: String,
    now: Timestamp,
) -> Result<Vec<i64>, String> {
    let filter = Filter::And(
        Box::new(created_by(feed)),
        Box::new(Filter::And(
            Box::new(Filter::Compare {
                subject: Subject::Field(Field::IndicatorType),
                op: CompareOp::Eq,
                value: Literal::Text(indicator_type.as_str().to_owned()),
            }),
            Box::new(Filter::Compare {
                subject: Subject::Field(Field::IndicatorValue),
                op: CompareOp::Eq,
                value: Literal::Text(value),
            }),
        )),
    );
    let query = ListQuery {
        filter: Some(filter),
        top: 100,
        ..ListQuery::default()
    };
    let tenant = feed.tenant.clone();
    let page = state
        .blocking(move |service| {
            service
                .indicators()
                .list(&tenant, &query, &Visibility::All, now)
        })
        .await
        .map_err(|e| e.message)?;
    Ok(page.items.iter().map(|i| i.id).collect())
}

/// Every indicator the feed created: (id, type, value).
async fn find_all(
    state: &AppState,
    feed: &FeedConfig,
    now: Timestamp,
) -> Result<Vec<(i64, String, String)>, String> {
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let query = ListQuery {
            filter: Some(created_by(feed)),
            top: 10_000,
            after_id: after,
            ..ListQuery::default()
        };
        let tenant = feed.tenant.clone();
        let page = state
            .blocking(move |service| {
                service
                    .indicators()
                    .list(&tenant, &query, &Visibility::All, now)
            })
            .await
            .map_err(|e| e.message)?;
        found.extend(page.items.iter().map(|i| {
            (
                i.id,
                i.spec.indicator_type().as_str().to_owned(),
                i.spec.value.to_string(),
            )
        }));
        match (page.has_more, page.items.last()) {
            (true, Some(last)) => after = Some(last.id),
            _ => return Ok(found),
        }
    }
}

/// Every feed: those of the configuration file, then those stored through the API (a stored
/// definition that no longer reads is logged and skipped).
async fn all_feeds(state: &AppState) -> Vec<(FeedConfig, &'static str)> {
    let mut feeds: Vec<(FeedConfig, &'static str)> = state
        .config()
        .feeds
        .iter()
        .map(|f| (f.clone(), "config"))
        .collect();
    match state
        .blocking(|service| service.feed_store().stored_feeds())
        .await
    {
        Ok(stored) => {
            for feed in stored {
                match serde_json::from_str::<FeedConfig>(&feed.definition) {
                    Ok(config) => feeds.push((config, "api")),
                    Err(error) => {
                        tracing::warn!(feed = %feed.name, tenant = %feed.tenant, %error, "a stored feed does not read; skipped")
                    }
                }
            }
        }
        Err(error) => {
            tracing::warn!(message = %error.message, "the stored feeds could not be read")
        }
    }
    feeds
}

/// Runs each feed when it is due (at start, then every `interval_minutes`, or at once after
/// `POST /api/feeds/{name}/run` on any node), one at a time, until `shutdown`: on the leader
/// only, which looks every 5 seconds and when woken. A node that takes the lead first runs
/// again the feeds whose runs were interrupted.
pub async fn run_feeds(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut leading = false;
    loop {
        let now_leading = state.is_leader();
        if now_leading && !leading {
            recover_interrupted_runs(&state).await;
        }
        leading = now_leading;
        if leading {
            for feed in due_feeds(&state).await {
                run_feed(&state, &feed).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = state.feeds().wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The feeds to run now: those asked to run (the requests are taken) and those whose next run
/// has come.
async fn due_feeds(state: &AppState) -> Vec<FeedConfig> {
    let requested: HashSet<(String, String)> = match state
        .blocking(|service| service.records().take_records(RecordKind::FeedRunRequest))
        .await
    {
        Ok(requests) => requests.into_iter().map(|r| (r.tenant, r.name)).collect(),
        Err(error) => {
            tracing::warn!(message = %error.message, "the requests to run feeds could not be read");
            HashSet::new()
        }
    };
    let runs = stored_runs(state).await;
    let now = state.now().ticks();
    all_feeds(state)
        .await
        .into_iter()
        .map(|(feed, _)| feed)
        .filter(|feed| {
            let key = key(feed);
            requested.contains(&key)
                || runs
                    .get(&key)
                    .and_then(|run| run.next_run)
                    .is_none_or(|next| next <= now)
        })
        .collect()
}

/// `GET /api/feeds`: the tenant's feeds and their last runs.
#[utoipa::path(get, path = "/api/feeds", tag = "feeds",
    responses((status = 200, body = FeedList),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<crate::odata::OData<FeedList>, ApiError> {
    principal.read_visibility()?;
    state.check_rate(&principal, crate::rate_limit::Operation::List)?;
    let feeds = all_feeds(&state).await;
    let mut runs = stored_runs(&state).await;
    let value = feeds
        .iter()
        .filter(|(feed, _)| feed.tenant == principal.tenant)
        .map(|(feed, origin)| {
            let mut status = runs.remove(&key(feed)).unwrap_or_default().status;
            status.name = feed.name.clone();
            status.origin = (*origin).to_owned();
            status.kind = Some(feed.kind);
            status.source = shown_source(&feed.url);
            status.interval_minutes = feed.interval_minutes;
            status
        })
        .collect();
    Ok(crate::odata::OData(FeedList {
        context: format!("{}/api/$metadata#Feeds", crate::odata::base_url(&state)),
        value,
    }))
}

/// The tenant's feeds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedList {
    #[serde(rename = "@odata.context")]
    pub context: String,
    pub value: Vec<FeedStatus>,
}

/// `POST /api/feeds/{name}/run`: runs the feed now (202; its status shows the run).
#[utoipa::path(post, path = "/api/feeds/{name}/run", tag = "feeds", params(("name" = String, Path)),
    responses((status = 202, description = "The run is queued"),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn run_now(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if principal.write_visibility()? != Visibility::All {
        return Err(ApiError::forbidden(
            "Running a feed needs the Ti.ReadWrite.All role.",
        ));
    }
    state.check_rate(&principal, crate::rate_limit::Operation::Import)?;
    let feeds = all_feeds(&state).await;
    if !feeds
        .iter()
        .any(|(f, _)| f.tenant == principal.tenant && f.name == name)
    {
        return Err(ApiError::not_found(format!("feed {name}")));
    }
    // A request any node can make and only the leader takes.
    let request = StoredRecord {
        kind: RecordKind::FeedRunRequest,
        tenant: principal.tenant.clone(),
        name,
        body: "{}".to_owned(),
        updated: state.now(),
    };
    state
        .blocking(move |service| service.records().put_record(&request, None))
        .await?;
    state.feeds().wake.notify_one();
    Ok(StatusCode::ACCEPTED)
}

fn require_manage(principal: &Principal) -> Result<(), ApiError> {
    if principal.write_visibility()? != Visibility::All {
        return Err(ApiError::forbidden(
            "Managing feeds needs the Ti.ReadWrite.All role.",
        ));
    }
    Ok(())
}

/// `POST /api/feeds`: adds a feed of the token's tenant (stored; it first runs within
/// seconds). `file://` sources are for the configuration file only.
#[utoipa::path(post, path = "/api/feeds", tag = "feeds", request_body = FeedConfig,
    responses((status = 201, body = FeedStatus), (status = 400, body = crate::wire::errors::ErrorBody),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 409, body = crate::wire::errors::ErrorBody), (status = 415, body = crate::wire::errors::ErrorBody),
        (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    crate::extract::ApiJson(mut body): crate::extract::ApiJson<Value>,
) -> Result<(StatusCode, crate::odata::Json<FeedStatus>), ApiError> {
    require_manage(&principal)?;
    state.check_rate(&principal, crate::rate_limit::Operation::Submit)?;
    let invalid = |message: String| ApiError::new(iocd_model::ErrorCode::InvalidInput, message);
    let Some(object) = body.as_object_mut() else {
        return Err(ApiError::bad_body("A feed is a JSON object."));
    };
    object.insert("tenant".into(), json!(principal.tenant));
    let feed: FeedConfig = serde_json::from_value(body)
        .map_err(|e| invalid(format!("The feed is not valid: {e}.")))?;
    feed.check().map_err(invalid)?;
    if feed.url.starts_with("file://") {
        return Err(invalid(
            "url: feeds added through the API read http:// or https:// sources; file:// is for the configuration file.".into(),
        ));
    }
    if feed.name.chars().count() > 100 || feed.name.contains('/') {
        return Err(invalid("name: at most 100 characters, without /.".into()));
    }
    let taken = state
        .config()
        .feeds
        .iter()
        .any(|f| f.tenant == feed.tenant && f.name == feed.name);
    let stored = iocd_store::feeds::StoredFeed {
        tenant: feed.tenant.clone(),
        name: feed.name.clone(),
        definition: serde_json::to_string(&feed).map_err(|e| ApiError::internal(&e))?,
        created: state.now(),
        created_by: principal.app_id.clone(),
    };
    let created = !taken
        && state
            .blocking(move |service| service.feed_store().create_feed(&stored))
            .await?;
    if !created {
        return Err(ApiError::new(
            iocd_model::ErrorCode::Conflict,
            format!("A feed named {} exists.", feed.name),
        ));
    }
    state.feeds().wake.notify_one();
    Ok((
        StatusCode::CREATED,
        crate::odata::Json(FeedStatus {
            name: feed.name.clone(),
            origin: "api".into(),
            kind: Some(feed.kind),
            source: shown_source(&feed.url),
            interval_minutes: feed.interval_minutes,
            ..FeedStatus::default()
        }),
    ))
}

/// `DELETE /api/feeds/{name}`: removes a feed added through the API (what it wrote stays).
#[utoipa::path(delete, path = "/api/feeds/{name}", tag = "feeds", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = crate::wire::errors::ErrorBody), (status = 403, body = crate::wire::errors::ErrorBody),
        (status = 404, body = crate::wire::errors::ErrorBody), (status = 429, body = crate::wire::errors::ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_manage(&principal)?;
    state.check_rate(&principal, crate::rate_limit::Operation::Delete)?;
    if state
        .config()
        .feeds
        .iter()
        .any(|f| f.tenant == principal.tenant && f.name == name)
    {
        return Err(ApiError::forbidden(format!(
            "The feed {name} is defined in the configuration file; remove it there."
        )));
    }
    let tenant = principal.tenant.clone();
    let wanted = name.clone();
    let deleted = state
        .blocking(move |service| service.feed_store().delete_feed(&tenant, &wanted))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("feed {name}")));
    }
    let tenant = principal.tenant.clone();
    state
        .blocking(move |service| {
            let records = service.records();
            records.delete_record(RecordKind::FeedRun, &tenant, &name)?;
            records.delete_record(RecordKind::FeedRunRequest, &tenant, &name)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
