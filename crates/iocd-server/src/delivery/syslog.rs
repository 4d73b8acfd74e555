//! Syslog output for SIEMs: every alert event, in commit order from the alert outbox, as one
//! RFC 5424 message whose text is an ArcSight Common Event Format (CEF) line, sent over UDP
//! (one message per datagram) or TCP (RFC 6587 octet counting). Configured with `[syslog]`.
//!
//! The outbox position sent last is kept in the database (consumer `syslog`): after a
//! restart sending resumes there; over TCP a message that could not be sent is tried again on
//! a new connection. A server that starts with syslog for the first time begins at the
//! current end of the outbox (history is not replayed).

use crate::state::AppState;
use iocd_model::Timestamp;
use iocd_store::detections::Alert;
use iocd_store::webhooks::{AlertEvent, OutboxEntry};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    Udp(String),
    Tcp(String),
}

impl SyslogTarget {
    /// `udp://host:port` or `tcp://host:port`.
    pub fn parse(text: &str) -> Result<SyslogTarget, String> {
        let (scheme, address) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} is not udp://host:port or tcp://host:port"))?;
        let has_port = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !has_port {
            return Err(format!("{text:?}: the address needs a host and a port"));
        }
        match scheme {
            "udp" => Ok(SyslogTarget::Udp(address.to_owned())),
            "tcp" => Ok(SyslogTarget::Tcp(address.to_owned())),
            other => Err(format!(
                "{text:?}: unknown transport {other:?}; use udp or tcp"
            )),
        }
    }
}

/// The `[syslog]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    pub target: SyslogTarget,
    /// The syslog facility number (default 16, local0).
    pub facility: u8,
    /// The HOSTNAME field (default: the machine's name).
    pub hostname: String,
}

/// The outbox consumer name under which the position is kept.
const CONSUMER: &str = "syslog";
const POLL_INTERVAL: Duration = Duration::from_millis(500);
const BATCH: usize = 256;
/// Longest text of a free-form extension value (the description), so a message fits a
/// datagram.
const MAX_TEXT_CHARS: usize = 2000;

/// The machine's host name, for the HOSTNAME field.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "-".to_owned())
}

/// Escapes a CEF header field: backslash and pipe.
fn header(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// Escapes a CEF extension value: backslash, equals sign and line breaks.
fn value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// CEF severity (0 to 10) of an indicator severity.
fn cef_severity(severity: &str) -> u8 {
    match severity {
        "Informational" => 1,
        "Low" => 3,
        "Medium" => 5,
        _ => 8,
    }
}

/// Syslog severity (RFC 5424) of an indicator severity.
fn syslog_severity(severity: &str) -> u8 {
    match severity {
        "Informational" => 6,
        "Low" => 5,
        "Medium" => 4,
        _ => 3,
    }
}

fn millis(time: Timestamp) -> i64 {
    time.ticks().div_euclid(10_000)
}

/// The CEF line of an alert event of `tenant`.
pub fn cef_line(tenant: &str, alert: &Alert, event: AlertEvent) -> String {
    let description: String = alert.description.chars().take(MAX_TEXT_CHARS).collect();
    let mut extension: Vec<(&str, String)> = vec![
        ("rt", millis(alert.last_update_time).to_string()),
        ("start", millis(alert.first_event_time).to_string()),
        ("end", millis(alert.last_event_time).to_string()),
        ("externalId", alert.id.to_string()),
        ("deviceExternalId", alert.device.id.clone()),
    ];
    if let Some(name) = &alert.device.name {
        extension.push(("dvchost", name.clone()));
    }
    extension.extend([
        ("act", alert.action.clone()),
        ("cat", alert.category.clone()),
        ("cnt", alert.event_count.to_string()),
        ("msg", description),
        ("cs1Label", "indicatorValue".to_owned()),
        ("cs1", alert.indicator_value.clone()),
        ("cs2Label", "indicatorType".to_owned()),
        ("cs2", alert.indicator_type.clone()),
        ("cs3Label", "tenant".to_owned()),
        ("cs3", tenant.to_owned()),
        ("cs4Label", "status".to_owned()),
        ("cs4", alert.status.as_str().to_owned()),
        ("cs5Label", "mitreTechniques".to_owned()),
        ("cs5", alert.mitre_techniques.join(",")),
        ("cs6Label", "indicatorId".to_owned()),
        ("cs6", alert.indicator_id.to_string()),
    ]);
    let extension: Vec<String> = extension
        .into_iter()
        .map(|(key, text)| format!("{key}={}", value(&text)))
        .collect();
    format!(
        "CEF:0|iocd|iocd|{}|{}|{}|{}|{}",
        header(env!("CARGO_PKG_VERSION")),
        header(event.as_str()),
        header(&alert.title),
        cef_severity(&alert.severity),
        extension.join(" ")
    )
}

/// An RFC 5424 message carrying `text`.
pub fn rfc5424(config: &SyslogConfig, severity: &str, time: Timestamp, text: &str) -> String {
    let priority = u16::from(config.facility.min(23)) * 8 + u16::from(syslog_severity(severity));
    let stamp = time.to_offset_date_time();
    let micros = time.ticks().rem_euclid(10_000_000) / 10;
    format!(
        "<{priority}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z {} iocd {} alert - {text}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second(),
        config.hostname,
        std::process::id(),
    )
}

/// A connection to the syslog receiver.
enum Sender {
    Udp(tokio::net::UdpSocket),
    Tcp(tokio::net::TcpStream),
}

impl Sender {
    async fn connect(target: &SyslogTarget) -> std::io::Result<Sender> {
        match target {
            SyslogTarget::Udp(address) => {
                let remote = tokio::net::lookup_host(address.as_str())
                    .await?
                    .next()
                    .ok_or_else(|| std::io::Error::other(format!("{address} has no address")))?;
                let local = if remote.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = tokio::net::UdpSocket::bind(local).await?;
                socket.connect(remote).await?;
                Ok(Sender::Udp(socket))
            }
            SyslogTarget::Tcp(address) => Ok(Sender::Tcp(
                tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::net::TcpStream::connect(address.as_str()),
                )
                .await
                .map_err(|_| {
                    std::io::Error::other(format!("connecting to {address} timed out"))
                })??,
            )),
        }
    }

    async fn send(&mut self, message: &str) -> std::io::Result<()> {
        match self {
            Sender::Udp(socket) => socket.send(message.as_bytes()).await.map(|_| ()),
            Sender::Tcp(stream) => {
                let framed = format!("{} {message}", message.len());
                stream.write_all(framed.as_bytes()).await
            }
        }
    }
}

/// Sends every new alert event to the syslog receiver until `shutdown` fires.
pub async fn run_syslog(
    state: AppState,
    config: SyslogConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut sender: Option<Sender> = None;
    let mut failures = 0u32;
    loop {
        let step = if state.is_leader() {
            forward(&state, &config, &mut sender).await
        } else {
            Ok(false)
        };
        match step {
            Ok(busy) => {
                failures = 0;
                if busy {
                    continue;
                }
            }
            Err(error) => {
                sender = None;
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(%error, failures, "sending alerts to syslog failed; retrying");
                }
            }
        }
        let wait = if failures == 0 {
            POLL_INTERVAL
        } else {
            Duration::from_secs(u64::from(failures.min(30)))
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends one batch of outbox entries after the stored position and stores the new position;
/// `Ok(true)` when a full batch went (more may wait).
async fn forward(
    state: &AppState,
    config: &SyslogConfig,
    sender: &mut Option<Sender>,
) -> Result<bool, String> {
    let (entries, start) = state
        .blocking(|service| {
            let store = service.webhooks();
            let start = match store.outbox_cursor(CONSUMER)? {
                Some(seq) => seq,
                None => {
                    let head = store.outbox_head()?;
                    store.set_outbox_cursor(CONSUMER, head)?;
                    head
                }
            };
            Ok((store.outbox_after(start, BATCH)?, start))
        })
        .await
        .map_err(|e| e.message)?;
    if entries.is_empty() {
        return Ok(false);
    }
    let busy = entries.len() == BATCH;
    let mut sent = start;
    let mut failure = None;
    for entry in entries {
        match send_entry(state, config, sender, &entry).await {
            Ok(()) => sent = entry.seq,
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if sent != start {
        state
            .blocking(move |service| service.webhooks().set_outbox_cursor(CONSUMER, sent))
            .await
            .map_err(|e| e.message)?;
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(busy),
    }
}

async fn send_entry(
    state: &AppState,
    config: &SyslogConfig,
    sender: &mut Option<Sender>,
    entry: &OutboxEntry,
) -> Result<(), String> {
    let tenant = entry.tenant.clone();
    let id = entry.alert_id;
    let alert = state
        .blocking(move |service| service.detections().get_alert(&tenant, id))
        .await
        .map_err(|e| e.message)?;
    // An alert deleted since has nothing to say.
    let Some(alert) = alert else { return Ok(()) };
    let line = cef_line(&entry.tenant, &alert, entry.event);
    let message = rfc5424(config, &alert.severity, entry.time, &line);
    if sender.is_none() {
        *sender = Some(
            Sender::connect(&config.target)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let sent = match sender {
        Some(connection) => connection.send(&message).await.map_err(|e| e.to_string()),
        None => Err("no connection".to_owned()),
    };
    let outcome = if sent.is_ok() { "sent" } else { "failed" };
    state
        .service()
        .telemetry()
        .count(crate::metrics::SYSLOG_MESSAGES, &[("outcome", outcome)], 1);
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cef_escapes_header_and_extension_text() {
        // (text, as a header field, as an extension value)
        let cases = [
            ("plain", "plain", "plain"),
            ("a|b", "a\\|b", "a|b"),
            ("a=b", "a=b", "a\\=b"),
            ("back\\slash", "back\\\\slash", "back\\\\slash"),
            ("two\nlines", "two lines", "two\\nlines"),
            ("cr\rlf", "cr lf", "cr\\rlf"),
        ];
        for (text, as_header, as_value) in cases {
            assert_eq!(header(text), as_header, "header {text:?}");
            assert_eq!(value(text), as_value, "value {text:?}");
        }
    }

    #[test]
    fn targets_parse_or_say_why_not() {
        assert_eq!(
            SyslogTarget::parse("udp://10.0.0.5:514"),
            Ok(SyslogTarget::Udp("10.0.0.5:514".into()))
        );
        assert_eq!(
            SyslogTarget::parse("tcp://[::1]:601"),
            Ok(SyslogTarget::Tcp("[::1]:601".into()))
        );
        for bad in [
            "10.0.0.5:514",
            "tls://a:1",
            "udp://a",
            "udp://:514",
            "udp://a:99999",
        ] {
            assert!(SyslogTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn severities_map_to_cef_and_syslog_levels() {
        let mapped: Vec<(u8, u8)> = ["Informational", "Low", "Medium", "High"]
            .into_iter()
            .map(|s| (cef_severity(s), syslog_severity(s)))
            .collect();
        assert_eq!(mapped, [(1, 6), (3, 5), (5, 4), (8, 3)]);
    }
}
