//! Exports for sensors, each a set of files with fixed names:
//!
//! - Zeek's intel framework ([`zeek_intel`]): one tab-separated file;
//! - Suricata ([`suricata`]): hash lists for `filesha256`/`filemd5`, a dataset of type
//!   `string` (base64, one per line) of domains, an iprep list with its category file, and
//!   rules that use them;
//! - block lists per type ([`block_lists`]): one value per line;
//! - MDE CSV in files of 500 rows ([`mde_csv_files`]), the most MDE's portal takes per file.
//!
//! `Allowed` indicators are never exported to a sensor's detection or block lists. Zeek and
//! Suricata get every other action (they detect; what to drop is the rule's choice); the block
//! lists get the actions that block (`Warn`, `Block`, `BlockAndRemediate`).

use base64::Engine;
use iocd_model::csv_format::CsvWriter;
use iocd_model::{Action, IndicatorEntity, IndicatorType, Severity};

/// One exported file: its name and contents.
pub type ExportFile = (String, Vec<u8>);

/// Rows per MDE CSV file.
pub const MDE_CSV_ROWS: usize = 500;

fn detected(entity: &IndicatorEntity) -> bool {
    entity.action != Action::Allowed
}

fn blocked(entity: &IndicatorEntity) -> bool {
    matches!(
        entity.action,
        Action::Warn | Action::Block | Action::BlockAndRemediate
    )
}

/// Text without tabs or line breaks, as one field of a tab-separated line.
fn field(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "-".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// The Zeek intel type and indicator of an indicator.
fn zeek_item(entity: &IndicatorEntity) -> (&'static str, String) {
    let value = entity.indicator_value.as_str();
    match entity.indicator_type {
        IndicatorType::IpAddress => {
            let single = match value.split_once('/') {
                None => true,
                Some((_, prefix)) => prefix == "32" && !value.contains(':') || prefix == "128",
            };
            if single {
                let address = value.split('/').next().unwrap_or(value);
                ("Intel::ADDR", address.to_owned())
            } else {
                ("Intel::SUBNET", value.to_owned())
            }
        }
        IndicatorType::DomainName => ("Intel::DOMAIN", value.to_owned()),
        IndicatorType::Url => {
            let without = value
                .strip_prefix("https://")
                .or_else(|| value.strip_prefix("http://"))
                .unwrap_or(value);
            ("Intel::URL", without.to_owned())
        }
        IndicatorType::FileSha256 | IndicatorType::FileSha1 | IndicatorType::FileMd5 => {
            ("Intel::FILE_HASH", value.to_owned())
        }
        IndicatorType::CertificateThumbprint => ("Intel::CERT_HASH", value.to_owned()),
    }
}

/// The Zeek intel file (`iocd.intel`): the header, then one line per indicator.
pub fn zeek_intel(entities: &[IndicatorEntity]) -> ExportFile {
    let mut out = String::from("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n");
    for entity in entities.iter().filter(|e| detected(e)) {
        let (kind, indicator) = zeek_item(entity);
        out.push_str(&format!(
            "{}\t{kind}\tiocd\t{}\n",
            field(&indicator),
            field(&format!("{} ({})", entity.title, entity.action.as_str()))
        ));
    }
    ("iocd.intel".to_owned(), out.into_bytes())
}

/// The iprep score of a severity (Suricata: 0 to 127).
fn iprep_score(severity: Severity) -> u8 {
    match severity {
        Severity::Informational => 30,
        Severity::Low => 60,
        Severity::Medium => 90,
        Severity::High => 127,
    }
}

/// The iprep category of an action (ids in `iocd-categories.txt`).
fn iprep_category(action: Action) -> u8 {
    match action {
        Action::Block | Action::BlockAndRemediate => 1,
        Action::Warn => 2,
        _ => 3,
    }
}

const SURICATA_RULES: &str = "\
# iocd: rules that use the lists exported with them. Copy the .lst files beside the rules
# (the domain dataset holds base64 strings; the hash lists hold hex, one per line) and set
# in suricata.yaml:
#   reputation-categories-file: /etc/suricata/iprep/iocd-categories.txt
#   default-reputation-path: /etc/suricata/iprep
#   reputation-files:
#     - iocd-iprep.list
alert dns any any -> any any (msg:\"iocd domain (DNS query)\"; dns.query; dataset:isset,iocd-domains,type string,load iocd-domains.lst; sid:9100001; rev:1;)
alert tls any any -> any any (msg:\"iocd domain (TLS SNI)\"; tls.sni; dataset:isset,iocd-domains,type string,load iocd-domains.lst; sid:9100002; rev:1;)
alert http any any -> any any (msg:\"iocd domain (HTTP host)\"; http.host; dataset:isset,iocd-domains,type string,load iocd-domains.lst; sid:9100003; rev:1;)
alert http any any -> any any (msg:\"iocd file SHA-256\"; filesha256:iocd-sha256.lst; sid:9100004; rev:1;)
alert http any any -> any any (msg:\"iocd file MD5\"; filemd5:iocd-md5.lst; sid:9100005; rev:1;)
alert ip any any -> any any (msg:\"iocd IP (block)\"; iprep:any,iocd-block,>,0; sid:9100006; rev:1;)
alert ip any any -> any any (msg:\"iocd IP (warn)\"; iprep:any,iocd-warn,>,0; sid:9100007; rev:1;)
alert ip any any -> any any (msg:\"iocd IP (audit)\"; iprep:any,iocd-audit,>,0; sid:9100008; rev:1;)
";

/// The Suricata files, and how many indicators they could not carry (SHA-1 file hashes,
/// certificates and URLs have no dataset type or keyword here; they go to Zeek or the lists).
pub fn suricata(entities: &[IndicatorEntity]) -> (Vec<ExportFile>, usize) {
    let base64 = base64::engine::general_purpose::STANDARD;
    let (mut sha256, mut md5, mut domains, mut iprep) =
        (String::new(), String::new(), String::new(), String::new());
    let mut skipped = 0;
    for entity in entities.iter().filter(|e| detected(e)) {
        let value = &entity.indicator_value;
        match entity.indicator_type {
            IndicatorType::FileSha256 => sha256.push_str(&format!("{value}\n")),
            IndicatorType::FileMd5 => md5.push_str(&format!("{value}\n")),
            IndicatorType::DomainName => {
                domains.push_str(&format!("{}\n", base64.encode(value.as_bytes())))
            }
            IndicatorType::IpAddress => iprep.push_str(&format!(
                "{value},{},{}\n",
                iprep_category(entity.action),
                iprep_score(entity.severity)
            )),
            _ => skipped += 1,
        }
    }
    let categories =
        "1,iocd-block,Blocked by iocd\n2,iocd-warn,Warned by iocd\n3,iocd-audit,Audited by iocd\n";
    let files = vec![
        ("iocd-sha256.lst".to_owned(), sha256.into_bytes()),
        ("iocd-md5.lst".to_owned(), md5.into_bytes()),
        ("iocd-domains.lst".to_owned(), domains.into_bytes()),
        ("iocd-iprep.list".to_owned(), iprep.into_bytes()),
        (
            "iocd-categories.txt".to_owned(),
            categories.as_bytes().to_vec(),
        ),
        ("iocd.rules".to_owned(), SURICATA_RULES.as_bytes().to_vec()),
    ];
    (files, skipped)
}

/// One block list per type (`iocd-domains.txt`, `iocd-urls.txt`, `iocd-ips.txt`,
/// `iocd-sha256.txt`, `iocd-sha1.txt`, `iocd-md5.txt`, `iocd-certificates.txt`), each value
/// on its own line.
pub fn block_lists(entities: &[IndicatorEntity]) -> Vec<ExportFile> {
    let names = [
        (IndicatorType::DomainName, "iocd-domains.txt"),
        (IndicatorType::Url, "iocd-urls.txt"),
        (IndicatorType::IpAddress, "iocd-ips.txt"),
        (IndicatorType::FileSha256, "iocd-sha256.txt"),
        (IndicatorType::FileSha1, "iocd-sha1.txt"),
        (IndicatorType::FileMd5, "iocd-md5.txt"),
        (
            IndicatorType::CertificateThumbprint,
            "iocd-certificates.txt",
        ),
    ];
    names
        .into_iter()
        .map(|(indicator_type, name)| {
            let mut out = String::new();
            for entity in entities
                .iter()
                .filter(|e| e.indicator_type == indicator_type && blocked(e))
            {
                out.push_str(&entity.indicator_value);
                out.push('\n');
            }
            (name.to_owned(), out.into_bytes())
        })
        .collect()
}

/// One list of every value that blocks, whatever its type.
pub fn block_list(entities: &[IndicatorEntity]) -> Vec<u8> {
    let mut out = String::new();
    for entity in entities.iter().filter(|e| blocked(e)) {
        out.push_str(&entity.indicator_value);
        out.push('\n');
    }
    out.into_bytes()
}

/// MDE CSV files of at most 500 rows each (`iocd-0001.csv`, …), every one with the header.
pub fn mde_csv_files(entities: &[IndicatorEntity]) -> std::io::Result<Vec<ExportFile>> {
    entities
        .chunks(MDE_CSV_ROWS)
        .enumerate()
        .map(|(n, chunk)| {
            let mut writer = CsvWriter::new(Vec::new())?;
            for entity in chunk {
                writer.write(entity)?;
            }
            Ok((format!("iocd-{:04}.csv", n + 1), writer.finish()?))
        })
        .collect()
}
