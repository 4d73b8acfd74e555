//! The known-good guard: MISP warninglists (lists of what everyone needs — the most used
//! sites, cloud providers' address ranges, well-known software hashes) loaded from files, and
//! the question "would this indicator block something on them?". With mode `refuse` such an
//! indicator is refused with the list named; with `flag` it is accepted and flagged (the API's
//! `warninglists` property, STIX's `x_iocd_warninglists`). Never silently.
//!
//! What counts as a hit is what the indicator would block: a domain equal to a listed one or a
//! parent of one (`com` blocks `google.com`); a URL that covers a listed site's root (no path,
//! no query); an address or network overlapping a listed one; a hash or thumbprint listed as
//! it is; a value containing a listed substring. A subdomain of a listed domain is not a hit:
//! blocking `evil.blogspot.com` leaves `blogspot.com` alone.

use iocd_model::{IndicatorType, IndicatorValue};
use serde::Deserialize;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What the guard does with an indicator that hits a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardMode {
    /// Refuse it, naming the list.
    Refuse,
    /// Accept it and flag it.
    Flag,
}

/// Why the lists could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WarninglistError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a MISP warninglist: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// A MISP warninglist file (`list.json`).
#[derive(Debug, Deserialize)]
struct ListFile {
    name: String,
    #[serde(rename = "type", default = "default_kind")]
    kind: String,
    list: Vec<String>,
    #[serde(default)]
    matching_attributes: Vec<String>,
}

fn default_kind() -> String {
    "string".to_owned()
}

/// One loaded list.
#[derive(Debug)]
struct List {
    name: String,
    /// The indicator types it is about.
    types: Vec<IndicatorType>,
    /// Exact entries (hashes, domains, addresses, URLs), lower case.
    exact: HashSet<String>,
    /// Domains one of the listed hostnames is equal to or under.
    covered: HashSet<String>,
    /// Address ranges as IPv6 (IPv4 mapped), merged and sorted.
    ranges: Vec<(u128, u128)>,
    substrings: Vec<String>,
}

/// The indicator types a MISP attribute type is about.
fn types_of(attribute: &str) -> &'static [IndicatorType] {
    use IndicatorType::*;
    match attribute {
        "domain" | "hostname" => &[DomainName, Url],
        "domain|ip" => &[DomainName, IpAddress, Url],
        "url" | "uri" | "link" => &[Url],
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" | "ip" => &[IpAddress],
        "md5" | "filename|md5" => &[FileMd5],
        "sha1" | "filename|sha1" => &[FileSha1],
        "sha256" | "filename|sha256" => &[FileSha256],
        "x509-fingerprint-sha1" | "x509-fingerprint-sha256" => &[CertificateThumbprint],
        _ => &[],
    }
}

const ALL_TYPES: [IndicatorType; 7] = [
    IndicatorType::FileSha1,
    IndicatorType::FileSha256,
    IndicatorType::FileMd5,
    IndicatorType::CertificateThumbprint,
    IndicatorType::IpAddress,
    IndicatorType::DomainName,
    IndicatorType::Url,
];

/// An address or network as an inclusive range of IPv6 numbers.
fn range_of(text: &str) -> Option<(u128, u128)> {
    let (address, prefix) = match text.trim().split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u32>().ok()?)),
        None => (text.trim(), None),
    };
    let address: IpAddr = address.parse().ok()?;
    let (number, bits) = match address {
        IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let prefix = prefix.unwrap_or(bits).min(bits);
    let host_bits = bits - prefix;
    let mask = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Some((number & !mask, number | mask))
}

fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

impl List {
    fn build(file: ListFile) -> List {
        let mut types: Vec<IndicatorType> = file
            .matching_attributes
            .iter()
            .flat_map(|a| types_of(a).iter().copied())
            .collect();
        if types.is_empty() {
            types = ALL_TYPES.to_vec();
        }
        types.sort_by_key(|t| t.as_str());
        types.dedup();
        let mut list = List {
            name: file.name,
            types,
            exact: HashSet::new(),
            covered: HashSet::new(),
            ranges: Vec::new(),
            substrings: Vec::new(),
        };
        let mut ranges = Vec::new();
        for entry in &file.list {
            let entry = entry.trim().trim_end_matches('.').to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            match file.kind.as_str() {
                "substring" => list.substrings.push(entry),
                "cidr" => ranges.extend(range_of(&entry)),
                _ => {
                    if let Some(range) = range_of(&entry) {
                        ranges.push(range);
                    } else {
                        // A hostname covers itself; every parent of it would block it.
                        let host = entry.trim_start_matches("*.").trim_start_matches('.');
                        let mut rest = host;
                        loop {
                            list.covered.insert(rest.to_owned());
                            match rest.split_once('.') {
                                Some((_, parent)) => rest = parent,
                                None => break,
                            }
                        }
                        list.exact.insert(entry);
                    }
                }
            }
        }
        list.ranges = merge(ranges);
        list
    }

    fn overlaps(&self, (start, end): (u128, u128)) -> bool {
        let first = self.ranges.partition_point(|r| r.1 < start);
        self.ranges.get(first).is_some_and(|r| r.0 <= end)
    }

    fn hits(&self, value: &IndicatorValue) -> bool {
        let indicator_type = value.indicator_type();
        if !self.types.contains(&indicator_type) {
            return false;
        }
        let text = value.to_string().to_ascii_lowercase();
        if self.substrings.iter().any(|s| text.contains(s.as_str())) {
            return true;
        }
        match value {
            IndicatorValue::DomainName(_) => self.covered.contains(&text),
            IndicatorValue::Url(url) => {
                let root = matches!(url.path(), "" | "/") && url.query().is_none();
                (root && self.covered.contains(&url.host().to_ascii_lowercase()))
                    || self.exact.contains(&text)
            }
            IndicatorValue::IpAddress(_) => range_of(&text).is_some_and(|r| self.overlaps(r)),
            _ => self.exact.contains(&text),
        }
    }
}

/// The loaded lists.
#[derive(Debug, Default)]
pub struct Warninglists {
    lists: Vec<List>,
    /// Lists not used, with why (regular-expression lists).
    pub skipped: Vec<String>,
}

impl Warninglists {
    /// Every `*.json` under `dir` (MISP's `lists/<name>/list.json` layout, or flat files).
    pub fn load(dir: &Path) -> Result<Warninglists, WarninglistError> {
        let mut files = Vec::new();
        collect_json(dir, &mut files)?;
        files.sort();
        let mut loaded = Warninglists::default();
        for path in files {
            let text = std::fs::read(&path).map_err(|e| WarninglistError::Read {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let file: ListFile =
                serde_json::from_slice(&text).map_err(|e| WarninglistError::Format {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            loaded.add(file);
        }
        Ok(loaded)
    }

    /// Lists given directly: (name, MISP type, entries, matching attributes).
    pub fn from_lists<'a>(
        lists: impl IntoIterator<Item = (&'a str, &'a str, Vec<&'a str>, Vec<&'a str>)>,
    ) -> Warninglists {
        let mut loaded = Warninglists::default();
        for (name, kind, list, attributes) in lists {
            loaded.add(ListFile {
                name: name.to_owned(),
                kind: kind.to_owned(),
                list: list.into_iter().map(str::to_owned).collect(),
                matching_attributes: attributes.into_iter().map(str::to_owned).collect(),
            });
        }
        loaded
    }

    fn add(&mut self, file: ListFile) {
        if file.kind == "regex" {
            self.skipped.push(format!(
                "{} (regular expressions are not supported)",
                file.name
            ));
            return;
        }
        self.lists.push(List::build(file));
    }

    /// How many lists are in use.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The names of the lists `value` hits.
    pub fn hits(&self, value: &IndicatorValue) -> Vec<String> {
        self.lists
            .iter()
            .filter(|list| list.hits(value))
            .map(|list| list.name.clone())
            .collect()
    }
}

fn collect_json(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), WarninglistError> {
    let entries = std::fs::read_dir(dir).map_err(|e| WarninglistError::Read {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| WarninglistError::Read {
                path: dir.to_owned(),
                reason: e.to_string(),
            })?
            .path();
        if path.is_dir() {
            collect_json(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// The guard: the lists and what to do on a hit.
#[derive(Debug)]
pub struct Guard {
    pub lists: Warninglists,
    pub mode: GuardMode,
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn lists() -> Warninglists {
        Warninglists::from_lists([
            (
                "Top sites",
                "hostname",
                vec!["google.com", "www.microsoft.com", "blogspot.com"],
                vec!["hostname", "domain", "url"],
            ),
            (
                "Cloud ranges",
                "cidr",
                vec!["52.94.0.0/16", "2600:1f00::/24"],
                vec!["ip-src", "ip-dst"],
            ),
            (
                "Known software",
                "string",
                vec!["E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"],
                vec!["sha256"],
            ),
            (
                "Resolvers",
                "string",
                vec!["8.8.8.8", "1.1.1.1"],
                vec!["ip-dst"],
            ),
            ("Odd", "substring", vec!["in-addr.arpa"], vec!["domain"]),
            ("Patterns", "regex", vec!["^x$"], vec![]),
        ])
    }

    #[test]
    fn what_an_indicator_would_block_is_checked_against_the_lists() {
        let lists = lists();
        assert_eq!(lists.len(), 5);
        assert_eq!(lists.skipped.len(), 1);
        let cases: &[(IndicatorType, &str, &[&str])] = &[
            (DomainName, "google.com", &["Top sites"]),
            (DomainName, "GOOGLE.com.", &["Top sites"]),
            (DomainName, "microsoft.com", &["Top sites"]),
            (DomainName, "mail.google.com", &[]),
            (DomainName, "evil.blogspot.com", &[]),
            (DomainName, "evil.example", &[]),
            (DomainName, "1.2.3.4.in-addr.arpa", &["Odd"]),
            (Url, "https://google.com/", &["Top sites"]),
            (Url, "https://www.microsoft.com", &["Top sites"]),
            (Url, "https://google.com/phish", &[]),
            (Url, "https://google.com/?q=x", &[]),
            (IpAddress, "52.94.1.2", &["Cloud ranges"]),
            (IpAddress, "52.0.0.0/8", &["Cloud ranges"]),
            (IpAddress, "52.95.0.1", &[]),
            (IpAddress, "2600:1f00::1", &["Cloud ranges"]),
            (IpAddress, "8.8.8.8", &["Resolvers"]),
            (IpAddress, "8.8.0.0/16", &["Resolvers"]),
            (IpAddress, "8.8.4.4", &[]),
            (
                FileSha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                &["Known software"],
            ),
            (FileSha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", &[]),
        ];
        for (indicator_type, raw, expected) in cases {
            let value = IndicatorValue::parse(*indicator_type, raw, true).unwrap();
            assert_eq!(lists.hits(&value), *expected, "{indicator_type:?} {raw}");
        }
    }

    #[test]
    fn misp_list_files_load_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let list_dir = dir.path().join("lists/tranco10k");
        std::fs::create_dir_all(&list_dir).unwrap();
        std::fs::write(
            list_dir.join("list.json"),
            r#"{"name": "Top 10K", "type": "hostname", "version": 1, "description": "d",
                "list": ["example.org"], "matching_attributes": ["domain"]}"#,
        )
        .unwrap();
        let lists = Warninglists::load(dir.path()).unwrap();
        let value = IndicatorValue::parse(DomainName, "example.org", true).unwrap();
        assert_eq!(lists.hits(&value), ["Top 10K"]);
        std::fs::write(dir.path().join("broken.json"), "{}").unwrap();
        let error = Warninglists::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("broken.json") && error.contains("not a MISP warninglist"),
            "{error}"
        );
    }
}
