//! Server configuration: defaults, the `mde` profile, and the optional TOML file.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Which defaults apply before the file and flags override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// iocd's own defaults: caps lifted, generous rate limits, extensions on.
    #[default]
    Default,
    /// MDE's numbers: 15,000 active indicators, MDE's rate limits, extensions off.
    Mde,
}

/// One operation's request quota per (tenant, application): at most `per_minute` requests in
/// any calendar minute and `per_hour` in any calendar hour (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
}

/// Quotas per API operation (MDE's table in §2.0 of the reference for the indicator
/// operations, MDE's alert API limits for alerts; matching and events are iocd's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RateLimits {
    pub list: Quota,
    pub submit: Quota,
    pub import: Quota,
    pub delete: Quota,
    pub batch_delete: Quota,
    pub bulk: Quota,
    /// `POST /api/match` (sensors' hot path: generous by default).
    #[serde(rename = "match", default = "RateLimits::default_matching")]
    pub matching: Quota,
    #[serde(default = "RateLimits::default_events")]
    pub events: Quota,
    #[serde(default = "RateLimits::default_alerts")]
    pub alerts: Quota,
    /// The token endpoint, per client id.
    #[serde(default = "RateLimits::default_token")]
    pub token: Quota,
}

impl RateLimits {
    pub fn mde() -> Self {
        let q = |per_minute, per_hour| Quota {
            per_minute: Some(per_minute),
            per_hour,
        };
        RateLimits {
            list: q(100, Some(1500)),
            submit: q(100, Some(1500)),
            import: q(30, None),
            delete: q(100, Some(1500)),
            batch_delete: q(30, Some(1500)),
            bulk: q(30, None),
            matching: RateLimits::default_matching(),
            events: RateLimits::default_events(),
            alerts: q(100, Some(1500)),
            token: RateLimits::default_token(),
        }
    }

    fn per_minute(n: u32) -> Quota {
        Quota {
            per_minute: Some(n),
            per_hour: None,
        }
    }

    /// Matching: 60,000 requests a minute per application (of up to 10,000 observables each).
    fn default_matching() -> Quota {
        RateLimits::per_minute(60_000)
    }

    /// Events: 6,000 requests a minute per application.
    fn default_events() -> Quota {
        RateLimits::per_minute(6_000)
    }

    /// Alerts: 6,000 requests a minute per application.
    fn default_alerts() -> Quota {
        RateLimits::per_minute(6_000)
    }

    /// Tokens: 60 requests a minute per client id (each checks a deliberately slow hash).
    fn default_token() -> Quota {
        RateLimits::per_minute(60)
    }

    pub fn generous() -> Self {
        let q = |per_minute| Quota {
            per_minute: Some(per_minute),
            per_hour: None,
        };
        RateLimits {
            list: q(6000),
            submit: q(6000),
            import: q(6000),
            delete: q(6000),
            batch_delete: q(600),
            bulk: q(600),
            matching: RateLimits::default_matching(),
            events: RateLimits::default_events(),
            alerts: RateLimits::default_alerts(),
            token: RateLimits::default_token(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything the server needs to know. Built from the profile, then the file, then flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where the indicators and everything else live: `None` for SQLite in the data directory,
    /// or a `postgres://` URL shared by several nodes (`store`, `--store`, `IOCD_STORE`).
    pub store: Option<String>,
    /// NATS JetStream for device events (`events = "nats://host:4222"`, `--events`,
    /// `IOCD_EVENTS`): nodes consume `{events_prefix}.events.<tenant>` together.
    pub events: Option<String>,
    /// The prefix of the event bus's subjects and streams (`iocd`: subjects `iocd.events.*`
    /// and `iocd.alerts.*`, streams `iocd_events`, `iocd_alerts`).
    pub events_prefix: String,
    /// How long an event handed to a node may stay unacknowledged before JetStream hands it
    /// to another (a node that died with it).
    pub events_ack_wait_seconds: u64,
    pub profile: Profile,
    /// Behave exactly like MDE: no CIDR, no extra CSV types, no SHA-256 thumbprints.
    pub strict: bool,
    /// Cap on active indicators per tenant (`None`: none).
    pub max_active_indicators: Option<u64>,
    pub rate_limits: RateLimits,
    /// Largest JSON request body, in bytes.
    pub max_json_body_bytes: usize,
    /// Largest streamed bulk body, in bytes.
    pub max_bulk_body_bytes: u64,
    /// Bulk requests served at once; more are answered 503 with `Retry-After`.
    pub max_concurrent_bulk: usize,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, counted from when the
    /// connection starts waiting for them: also how long a kept-alive connection may idle.
    pub header_read_timeout_seconds: u64,
    /// How long a request body may go without sending anything before the request is ended
    /// with 408.
    pub body_read_timeout_seconds: u64,
    /// How often expired indicators are deleted.
    pub sweep_interval_seconds: u64,
    /// How long observables seen in events stay in the retro-hunt index, in days.
    pub sighting_retention_days: u64,
    /// Base URL used in `@odata.context` and `@odata.nextLink`; derived from the request's
    /// Host header when unset.
    pub public_url: Option<String>,
    /// The longest lifetime (`exp - iat`) of a token the server accepts, in seconds.
    pub max_token_lifetime_seconds: i64,
    /// The shortest IPv4 and IPv6 network prefixes an indicator may have.
    pub min_ipv4_prefix: u8,
    pub min_ipv6_prefix: u8,
    /// Serve HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<crate::tls::TlsFiles>,
    /// Whether an indicator naming an unknown device group creates the group (`true`; the
    /// `mde` profile: `false`, the indicator is refused).
    pub auto_create_device_groups: bool,
    /// External OpenID Connect issuers whose tokens are accepted (`[[auth.oidc]]`).
    pub oidc: Vec<crate::auth::oidc::OidcIssuer>,
    /// The resources the token endpoint issues tokens for, and the API accepts as the `aud`
    /// of those tokens (`auth.audiences`).
    pub token_audiences: Vec<String>,
    pub log_format: LogFormat,
    /// How webhook deliveries are attempted (`[webhooks]`).
    pub webhooks: crate::delivery::WebhookSettings,
    /// Where alerts go as CEF over syslog (`[syslog]`; `None`: nowhere).
    pub syslog: Option<crate::delivery::SyslogConfig>,
    /// The known-good guard (`[warninglists]`; `None`: off).
    pub warninglists: Option<WarninglistSettings>,
    /// Remote sources polled on a schedule (`[[feeds]]`).
    pub feeds: Vec<crate::feeds::FeedConfig>,
}

/// The `[warninglists]` table: where the MISP warninglists are and what a hit does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarninglistSettings {
    pub path: PathBuf,
    pub mode: iocd_service::warninglists::GuardMode,
}

impl Config {
    /// The validation rules this configuration sets.
    pub fn validation_options(&self, now: iocd_model::Timestamp) -> iocd_model::ValidationOptions {
        let mut options = iocd_model::ValidationOptions::json(now, self.strict);
        options.limits.min_ipv4_prefix = self.min_ipv4_prefix;
        options.limits.min_ipv6_prefix = self.min_ipv6_prefix;
        options
    }

    pub fn for_profile(profile: Profile) -> Self {
        let mde = profile == Profile::Mde;
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./iocd-data"),
            store: None,
            events: None,
            events_prefix: "iocd".to_owned(),
            events_ack_wait_seconds: 30,
            profile,
            strict: mde,
            max_active_indicators: Some(if mde { 15_000 } else { 100_000_000 }),
            rate_limits: if mde {
                RateLimits::mde()
            } else {
                RateLimits::generous()
            },
            max_json_body_bytes: 32 * 1024 * 1024,
            max_bulk_body_bytes: 8 * 1024 * 1024 * 1024,
            max_concurrent_bulk: 4,
            max_connections: 1024,
            header_read_timeout_seconds: 30,
            body_read_timeout_seconds: 30,
            sweep_interval_seconds: 1,
            sighting_retention_days: 30,
            public_url: None,
            max_token_lifetime_seconds: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
            min_ipv4_prefix: 8,
            min_ipv6_prefix: 16,
            tls: None,
            oidc: Vec::new(),
            auto_create_device_groups: !mde,
            token_audiences: DEFAULT_TOKEN_AUDIENCES
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            log_format: LogFormat::Text,
            webhooks: crate::delivery::WebhookSettings::default(),
            syslog: None,
            warninglists: None,
            feeds: Vec::new(),
        }
    }

    /// Applies a TOML configuration file (see `docs/configuration.md`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let mut config = Config::for_profile(file.profile.unwrap_or_default());
        if let Some(listen) = file.listen {
            config.listen = listen.parse().map_err(|_| {
                ConfigError(format!(
                    "listen: {listen:?} is not an address like 127.0.0.1:8080"
                ))
            })?;
        }
        if let Some(dir) = file.data_dir {
            config.data_dir = dir;
        }
        if let Some(store) = file.store {
            config.store = Some(store);
        }
        if let Some(events) = file.events {
            config.events = Some(events);
        }
        if let Some(prefix) = file.events_prefix {
            let valid = !prefix.is_empty()
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(ConfigError(format!(
                    "events_prefix: {prefix:?} must be letters, digits, '_' or '-'"
                )));
            }
            config.events_prefix = prefix;
        }
        if let Some(seconds) = file.events_ack_wait_seconds {
            config.events_ack_wait_seconds = seconds.max(1);
        }
        if let Some(strict) = file.strict {
            config.strict = strict;
        }
        if let Some(max) = file.max_active_indicators {
            config.max_active_indicators = (max > 0).then_some(max);
        }
        if let Some(limits) = file.rate_limits {
            limits.apply_to(&mut config.rate_limits);
        }
        if let Some(bytes) = file.max_json_body_bytes {
            config.max_json_body_bytes = bytes;
        }
        if let Some(bytes) = file.max_bulk_body_bytes {
            config.max_bulk_body_bytes = bytes;
        }
        if let Some(count) = file.max_connections {
            config.max_connections = count.max(1);
        }
        if let Some(seconds) = file.header_read_timeout_seconds {
            config.header_read_timeout_seconds = seconds.max(1);
        }
        if let Some(seconds) = file.body_read_timeout_seconds {
            config.body_read_timeout_seconds = seconds.max(1);
        }
        if let Some(count) = file.max_concurrent_bulk {
            config.max_concurrent_bulk = count.max(1);
        }
        if let Some(seconds) = file.sweep_interval_seconds {
            config.sweep_interval_seconds = seconds.max(1);
        }
        if let Some(days) = file.sighting_retention_days {
            config.sighting_retention_days = days.max(1);
        }
        config.public_url = file.public_url.map(|u| u.trim_end_matches('/').to_owned());
        if let Some(seconds) = file.max_token_lifetime_seconds {
            config.max_token_lifetime_seconds = i64::try_from(seconds.max(1)).unwrap_or(i64::MAX);
        }
        if let Some(prefix) = file.min_ipv4_prefix {
            if prefix > 32 {
                return Err(ConfigError(format!(
                    "min_ipv4_prefix: {prefix} is not a prefix length (0 to 32)"
                )));
            }
            config.min_ipv4_prefix = prefix;
        }
        if let Some(prefix) = file.min_ipv6_prefix {
            if prefix > 128 {
                return Err(ConfigError(format!(
                    "min_ipv6_prefix: {prefix} is not a prefix length (0 to 128)"
                )));
            }
            config.min_ipv6_prefix = prefix;
        }
        if let Some(format) = file.log_format {
            config.log_format = format;
        }
        config.tls = tls_files(file.tls_cert, file.tls_key)?;
        if let Some(create) = file.auto_create_device_groups {
            config.auto_create_device_groups = create;
        }
        if let Some(webhooks) = file.webhooks {
            if let Some(attempts) = webhooks.max_attempts {
                config.webhooks.max_attempts = attempts.max(1);
            }
            if let Some(seconds) = webhooks.retry_base_seconds {
                config.webhooks.retry_base_seconds = seconds.max(1);
            }
            if let Some(seconds) = webhooks.timeout_seconds {
                config.webhooks.timeout_seconds = seconds.max(1);
            }
        }
        if let Some(syslog) = file.syslog {
            let facility = syslog.facility.unwrap_or(16);
            if facility > 23 {
                return Err(ConfigError(format!(
                    "syslog.facility: {facility} is not a facility (0 to 23; local0 is 16)"
                )));
            }
            config.syslog = Some(crate::delivery::SyslogConfig {
                target: crate::delivery::SyslogTarget::parse(&syslog.target)
                    .map_err(|e| ConfigError(format!("syslog.target: {e}")))?,
                facility,
                hostname: syslog
                    .hostname
                    .unwrap_or_else(crate::delivery::syslog::local_hostname),
            });
        }
        let mut names = std::collections::HashSet::new();
        for feed in &file.feeds {
            feed.check()
                .map_err(|e| ConfigError(format!("feeds: {e}")))?;
            if !names.insert((feed.tenant.clone(), feed.name.clone())) {
                return Err(ConfigError(format!(
                    "feeds: two feeds of tenant {} are named {}",
                    feed.tenant, feed.name
                )));
            }
        }
        config.feeds = file.feeds;
        if let Some(lists) = file.warninglists {
            config.warninglists = Some(WarninglistSettings {
                path: lists.path,
                mode: lists
                    .mode
                    .unwrap_or(iocd_service::warninglists::GuardMode::Flag),
            });
        }
        if let Some(auth) = file.auth {
            for issuer in &auth.oidc {
                if issuer.issuer.trim().is_empty() || issuer.audience.trim().is_empty() {
                    return Err(ConfigError(
                        "auth.oidc: every issuer needs a non-empty issuer and audience".into(),
                    ));
                }
                if issuer.issuer == "iocd" {
                    return Err(ConfigError(
                        "auth.oidc: the issuer name iocd is this server's own".into(),
                    ));
                }
            }
            config.oidc = auth.oidc;
            if let Some(audiences) = auth.audiences {
                if audiences.iter().any(|a| a.trim().is_empty()) || audiences.is_empty() {
                    return Err(ConfigError(
                        "auth.audiences: name at least one audience, none empty".into(),
                    ));
                }
                config.token_audiences = audiences;
            }
        }
        Ok(config)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    events: Option<String>,
    events_prefix: Option<String>,
    events_ack_wait_seconds: Option<u64>,
    profile: Option<Profile>,
    strict: Option<bool>,
    /// 0 means no cap.
    max_active_indicators: Option<u64>,
    rate_limits: Option<RateLimitsFile>,
    max_json_body_bytes: Option<usize>,
    max_bulk_body_bytes: Option<u64>,
    max_concurrent_bulk: Option<usize>,
    max_connections: Option<usize>,
    header_read_timeout_seconds: Option<u64>,
    body_read_timeout_seconds: Option<u64>,
    sweep_interval_seconds: Option<u64>,
    sighting_retention_days: Option<u64>,
    public_url: Option<String>,
    max_token_lifetime_seconds: Option<u64>,
    min_ipv4_prefix: Option<u8>,
    min_ipv6_prefix: Option<u8>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    auto_create_device_groups: Option<bool>,
    auth: Option<AuthFile>,
    log_format: Option<LogFormat>,
    webhooks: Option<WebhooksFile>,
    syslog: Option<SyslogFile>,
    warninglists: Option<WarninglistsFile>,
    #[serde(default)]
    feeds: Vec<crate::feeds::FeedConfig>,
}

/// The `[warninglists]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarninglistsFile {
    path: PathBuf,
    mode: Option<iocd_service::warninglists::GuardMode>,
}

/// The `[webhooks]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksFile {
    max_attempts: Option<u32>,
    retry_base_seconds: Option<u64>,
    timeout_seconds: Option<u64>,
}

/// The `[syslog]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogFile {
    target: String,
    facility: Option<u8>,
    hostname: Option<String>,
}

/// The `[auth]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    oidc: Vec<crate::auth::oidc::OidcIssuer>,
    audiences: Option<Vec<String>>,
}

/// The resources MDE's clients ask Entra ID for tokens to (its API's identifiers), and iocd's
/// own: the token endpoint issues tokens for these by default.
pub const DEFAULT_TOKEN_AUDIENCES: [&str; 4] = [
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "api://iocd",
];

/// The TLS files from a certificate and a key path: both or neither.
pub fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError(
            "tls_cert is set but tls_key is not; HTTPS needs both".into(),
        )),
        (None, Some(_)) => Err(ConfigError(
            "tls_key is set but tls_cert is not; HTTPS needs both".into(),
        )),
    }
}

/// The `[rate_limits]` table: each operation named replaces the profile's quota for it; the
/// others keep the profile's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitsFile {
    list: Option<Quota>,
    submit: Option<Quota>,
    import: Option<Quota>,
    delete: Option<Quota>,
    batch_delete: Option<Quota>,
    bulk: Option<Quota>,
    #[serde(rename = "match")]
    matching: Option<Quota>,
    events: Option<Quota>,
    alerts: Option<Quota>,
    token: Option<Quota>,
}

impl RateLimitsFile {
    fn apply_to(self, limits: &mut RateLimits) {
        let pairs = [
            (self.list, &mut limits.list),
            (self.submit, &mut limits.submit),
            (self.import, &mut limits.import),
            (self.delete, &mut limits.delete),
            (self.batch_delete, &mut limits.batch_delete),
            (self.bulk, &mut limits.bulk),
            (self.matching, &mut limits.matching),
            (self.events, &mut limits.events),
            (self.alerts, &mut limits.alerts),
            (self.token, &mut limits.token),
        ];
        for (given, quota) in pairs {
            if let Some(given) = given {
                *quota = given;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mde_profile_uses_mde_numbers() {
        let config = Config::from_toml("profile = \"mde\"").unwrap();
        assert_eq!(config.max_active_indicators, Some(15_000));
        assert!(config.strict);
        assert_eq!(config.rate_limits.import.per_minute, Some(30));
        assert_eq!(config.rate_limits.list.per_hour, Some(1500));
    }

    #[test]
    fn file_overrides_profile_and_refuses_unknown_keys() {
        let config = Config::from_toml("profile = \"mde\"\nstrict = false\nmax_active_indicators = 0\nlisten = \"127.0.0.1:9999\"").unwrap();
        assert!(!config.strict);
        assert_eq!(config.max_active_indicators, None);
        assert_eq!(config.listen.port(), 9999);
        assert!(Config::from_toml("listn = \"x\"").is_err());
        assert_eq!(
            Config::from_toml("min_ipv4_prefix = 0\nmin_ipv6_prefix = 32")
                .unwrap()
                .validation_options(iocd_model::Timestamp::from_ticks(0))
                .limits
                .min_ipv6_prefix,
            32
        );
        assert!(Config::from_toml("min_ipv4_prefix = 33").is_err());
        assert!(Config::from_toml("min_ipv6_prefix = 129").is_err());
        assert!(Config::from_toml("listen = \"nowhere\"").is_err());
        let delivery = Config::from_toml(
            "[webhooks]\nmax_attempts = 3\nretry_base_seconds = 1\n[syslog]\ntarget = \"tcp://siem.example:6514\"\nhostname = \"iocd-1\"",
        )
        .unwrap();
        assert_eq!(delivery.webhooks.max_attempts, 3);
        assert_eq!(delivery.webhooks.timeout_seconds, 10);
        let syslog = delivery.syslog.unwrap();
        assert_eq!(
            syslog.target,
            crate::delivery::SyslogTarget::Tcp("siem.example:6514".into())
        );
        assert_eq!((syslog.facility, syslog.hostname.as_str()), (16, "iocd-1"));
        for bad in [
            "[syslog]\ntarget = \"siem.example:514\"",
            "[syslog]\ntarget = \"http://siem.example:514\"",
            "[syslog]\ntarget = \"udp://siem.example\"",
            "[syslog]\ntarget = \"udp://a:1\"\nfacility = 24",
            "[webhooks]\nretries = 3",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
        let default = Config::from_toml("").unwrap();
        assert_eq!(default.profile, Profile::Default);
        assert!(!default.strict);
    }

    #[test]
    fn rate_limits_named_in_the_file_replace_only_those_operations() {
        let config =
            Config::from_toml("profile = \"mde\"\n[rate_limits]\nmatch = { per_minute = 5 }\nlist = { per_minute = 7, per_hour = 70 }").unwrap();
        assert_eq!(config.rate_limits.matching.per_minute, Some(5));
        assert_eq!(config.rate_limits.list.per_hour, Some(70));
        // The rest keep the mde profile's.
        assert_eq!(config.rate_limits.import.per_minute, Some(30));
        assert_eq!(config.rate_limits.alerts.per_hour, Some(1500));
        assert!(Config::from_toml("[rate_limits]\nmatch = { per_minut = 5 }").is_err());
        assert!(Config::from_toml("[rate_limits]\nmatches = { per_minute = 5 }").is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let config = Config::from_toml("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"").unwrap();
        let files = config.tls.expect("TLS configured");
        assert_eq!(files.cert, PathBuf::from("c.pem"));
        assert_eq!(files.key, PathBuf::from("k.pem"));
        let error = Config::from_toml("tls_cert = \"c.pem\"").unwrap_err();
        assert!(error.0.contains("tls_key"), "{error}");
        assert!(Config::from_toml("tls_key = \"k.pem\"").is_err());
        assert!(Config::from_toml("").unwrap().tls.is_none());
    }

    #[test]
    fn connection_limits_come_from_the_file_and_are_at_least_one() {
        let config = Config::from_toml(
            "max_connections = 10\nheader_read_timeout_seconds = 0\nbody_read_timeout_seconds = 5\nmax_concurrent_bulk = 2\nmax_token_lifetime_seconds = 3600",
        )
        .unwrap();
        assert_eq!(config.max_connections, 10);
        assert_eq!(config.header_read_timeout_seconds, 1);
        assert_eq!(config.body_read_timeout_seconds, 5);
        assert_eq!(config.max_concurrent_bulk, 2);
        assert_eq!(config.max_token_lifetime_seconds, 3600);
        let default = Config::from_toml("").unwrap();
        assert_eq!(
            (
                default.max_connections,
                default.header_read_timeout_seconds,
                default.body_read_timeout_seconds,
                default.max_concurrent_bulk
            ),
            (1024, 30, 30, 4)
        );
    }
}
