//! The compiled match set: every active indicator of one tenant in eight key indexes (one per
//! hash kind, IPv4, IPv6, domains, URLs), immutable once built and shared between threads.

use crate::index::{FixedIndex, KeyIndex};
use crate::observable::{FileHashes, Observable, ObservedUrl, parse_thumbprint};
use crate::policy::{Candidate, specificity};
use iocd_model::{Action, IndicatorType, Timestamp, parse_ip_value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The matching-relevant part of an indicator, as the engine's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIndicator {
    pub id: i64,
    pub indicator_type: IndicatorType,
    /// The normalised value, as the model crate stores it.
    pub value: String,
    pub action: Action,
    /// Device groups the indicator applies to; empty means all devices.
    pub groups: Vec<String>,
    pub expires: Option<Timestamp>,
    pub generate_alert: bool,
}

impl From<&iocd_model::Indicator> for EngineIndicator {
    fn from(indicator: &iocd_model::Indicator) -> Self {
        EngineIndicator {
            id: indicator.id,
            indicator_type: indicator.spec.indicator_type,
            value: indicator.spec.indicator_value.clone(),
            action: indicator.spec.action,
            groups: indicator.spec.rbac_group_names.clone(),
            expires: indicator.spec.expiration_time,
            generate_alert: indicator.spec.generate_alert,
        }
    }
}

/// An indicator value the engine cannot index (the model crate never stores one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("indicator {id}: {reason}")]
pub struct CompileError {
    pub id: i64,
    pub reason: String,
}

/// Which of the eight indexes a key lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum IndexKind {
    Md5 = 0,
    Sha1,
    Sha256,
    Certificate,
    Ipv4,
    Ipv6,
    Domain,
    Url,
}

const INDEX_KINDS: [IndexKind; 8] = [
    IndexKind::Md5,
    IndexKind::Sha1,
    IndexKind::Sha256,
    IndexKind::Certificate,
    IndexKind::Ipv4,
    IndexKind::Ipv6,
    IndexKind::Domain,
    IndexKind::Url,
];

impl IndexKind {
    fn indicator_type(self) -> IndicatorType {
        match self {
            IndexKind::Md5 => IndicatorType::FileMd5,
            IndexKind::Sha1 => IndicatorType::FileSha1,
            IndexKind::Sha256 => IndicatorType::FileSha256,
            IndexKind::Certificate => IndicatorType::CertificateThumbprint,
            IndexKind::Ipv4 | IndexKind::Ipv6 => IndicatorType::IpAddress,
            IndexKind::Domain => IndicatorType::DomainName,
            IndexKind::Url => IndicatorType::Url,
        }
    }
}

/// The per-indicator record the indexes point at: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: i64,
    /// Expiry in 100 ns ticks; `i64::MAX` for none.
    pub(crate) expires: i64,
    /// Index into the set's scope table; 0 is "all devices".
    pub(crate) scope: u32,
    /// For URL indicators with an explicit port, that port; 0 matches any port.
    pub(crate) port: u16,
    pub(crate) action: Action,
    pub(crate) generate_alert: bool,
}

/// An indicator turned into an index key, ready to build a set from (or to carry from one set
/// into the next when merging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledIndicator {
    pub(crate) kind: IndexKind,
    pub(crate) key: Box<[u8]>,
    pub(crate) entry: Entry,
    /// Lower-case, sorted, de-duplicated group names; empty for all devices.
    pub(crate) groups: Arc<[String]>,
}

impl CompiledIndicator {
    pub fn id(&self) -> i64 {
        self.entry.id
    }

    pub fn expires(&self) -> Option<Timestamp> {
        (self.entry.expires != i64::MAX).then(|| Timestamp::from_ticks(self.entry.expires))
    }
}

/// The key of an IP network: prefix length, then the masked address bytes (4 or 16).
#[derive(Debug, Clone, Copy)]
struct IpKey {
    bytes: [u8; 17],
    len: usize,
    kind: IndexKind,
}

impl IpKey {
    fn new(address: IpAddr, prefix_len: u8) -> IpKey {
        let mut bytes = [0u8; 17];
        bytes[0] = prefix_len;
        match address {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let masked = if prefix_len == 0 {
                    0
                } else {
                    bits & (u32::MAX << (32 - u32::from(prefix_len.min(32))))
                };
                bytes[1..5].copy_from_slice(&masked.to_be_bytes());
                IpKey {
                    bytes,
                    len: 5,
                    kind: IndexKind::Ipv4,
                }
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let masked = if prefix_len == 0 {
                    0
                } else {
                    bits & (u128::MAX << (128 - u32::from(prefix_len.min(128))))
                };
                bytes[1..17].copy_from_slice(&masked.to_be_bytes());
                IpKey {
                    bytes,
                    len: 17,
                    kind: IndexKind::Ipv6,
                }
            }
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn ip_key(address: IpAddr, prefix_len: u8) -> (IndexKind, Box<[u8]>) {
    let key = IpKey::new(address, prefix_len);
    (key.kind, key.as_bytes().into())
}

fn hex_bytes(id: i64, value: &str) -> Result<Box<[u8]>, CompileError> {
    parse_thumbprint(value)
        .map(Vec::into_boxed_slice)
        .or_else(|_| {
            // MD5 is 32 hex digits, which the thumbprint parser refuses.
            crate::observable::parse_hex::<16>("MD5", value).map(|b| b.to_vec().into_boxed_slice())
        })
        .map_err(|e| CompileError {
            id,
            reason: e.to_string(),
        })
}

/// Compiles one indicator. `groups` are lower-cased so scope comparison ignores case.
pub fn compile(indicator: &EngineIndicator) -> Result<CompiledIndicator, CompileError> {
    let id = indicator.id;
    let fail = |reason: String| CompileError { id, reason };
    let mut port = 0u16;
    let (kind, key) = match indicator.indicator_type {
        IndicatorType::FileMd5 => (IndexKind::Md5, hex_bytes(id, &indicator.value)?),
        IndicatorType::FileSha1 => (IndexKind::Sha1, hex_bytes(id, &indicator.value)?),
        IndicatorType::FileSha256 => (IndexKind::Sha256, hex_bytes(id, &indicator.value)?),
        IndicatorType::CertificateThumbprint => {
            (IndexKind::Certificate, hex_bytes(id, &indicator.value)?)
        }
        IndicatorType::IpAddress => {
            let ip = parse_ip_value(&indicator.value, true).map_err(|e| fail(e.message))?;
            let full = if ip.address.is_ipv4() { 32 } else { 128 };
            ip_key(ip.address, ip.prefix_len.unwrap_or(full))
        }
        IndicatorType::DomainName => (
            IndexKind::Domain,
            indicator
                .value
                .trim_end_matches('.')
                .to_ascii_lowercase()
                .into_bytes()
                .into_boxed_slice(),
        ),
        IndicatorType::Url => {
            let url = ObservedUrl::parse(&indicator.value).map_err(|e| fail(e.to_string()))?;
            port = url.explicit_port().unwrap_or(0);
            (
                IndexKind::Url,
                url.match_key().into_bytes().into_boxed_slice(),
            )
        }
    };
    let expected_len = match kind {
        IndexKind::Md5 => Some(16),
        IndexKind::Sha1 => Some(20),
        IndexKind::Sha256 => Some(32),
        _ => None,
    };
    if expected_len.is_some_and(|len| len != key.len()) {
        return Err(fail(format!(
            "{} is not a {}",
            indicator.value, indicator.indicator_type
        )));
    }
    let mut groups: Vec<String> = indicator.groups.iter().map(|g| g.to_lowercase()).collect();
    groups.sort_unstable();
    groups.dedup();
    Ok(CompiledIndicator {
        kind,
        key,
        entry: Entry {
            id,
            expires: indicator.expires.map_or(i64::MAX, Timestamp::ticks),
            scope: 0,
            port,
            action: indicator.action,
            generate_alert: indicator.generate_alert,
        },
        groups: groups.into(),
    })
}

/// The device an observable was seen on: its device-group names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    groups: Vec<String>,
}

impl Device {
    pub fn new<I, S>(groups: I) -> Device
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Device {
            groups: groups
                .into_iter()
                .map(|g| g.as_ref().to_lowercase())
                .filter(|g| !g.is_empty())
                .collect(),
        }
    }

    pub fn groups(&self) -> &[String] {
        &self.groups
    }
}

/// An immutable set of compiled indicators with one key index per kind.
#[derive(Debug, Default, Clone)]
pub struct MatchSet {
    md5: FixedIndex<16>,
    sha1: FixedIndex<20>,
    sha256: FixedIndex<32>,
    /// Indexed by [`IndexKind`]; the three hash kinds above leave their slot here empty.
    indexes: [KeyIndex; 8],
    entries: Vec<Entry>,
    /// Scope 0 is "all devices" (empty).
    scopes: Vec<Arc<[String]>>,
    /// Prefix lengths present among IPv4 / IPv6 indicators, longest first.
    ipv4_prefixes: Vec<u8>,
    ipv6_prefixes: Vec<u8>,
}

impl MatchSet {
    /// Builds a set from compiled indicators.
    pub fn build(indicators: Vec<CompiledIndicator>) -> MatchSet {
        let mut set = MatchSet {
            scopes: vec![Arc::from(Vec::new())],
            entries: Vec::with_capacity(indicators.len()),
            ..MatchSet::default()
        };
        let mut scope_numbers: HashMap<Arc<[String]>, u32> = HashMap::new();
        let mut pairs: [Vec<(Box<[u8]>, u32)>; 8] = Default::default();
        for mut indicator in indicators {
            indicator.entry.scope = if indicator.groups.is_empty() {
                0
            } else {
                *scope_numbers
                    .entry(indicator.groups.clone())
                    .or_insert_with(|| {
                        set.scopes.push(indicator.groups.clone());
                        (set.scopes.len() - 1) as u32
                    })
            };
            let entry_number = set.entries.len() as u32;
            match indicator.kind {
                IndexKind::Ipv4 => set.ipv4_prefixes.push(indicator.key[0]),
                IndexKind::Ipv6 => set.ipv6_prefixes.push(indicator.key[0]),
                _ => {}
            }
            set.entries.push(indicator.entry);
            pairs[indicator.kind as usize].push((indicator.key, entry_number));
        }
        for prefixes in [&mut set.ipv4_prefixes, &mut set.ipv6_prefixes] {
            prefixes.sort_unstable_by(|a, b| b.cmp(a));
            prefixes.dedup();
        }
        for (kind, pairs) in INDEX_KINDS.into_iter().zip(pairs) {
            match kind {
                IndexKind::Md5 => set.md5 = FixedIndex::build(pairs),
                IndexKind::Sha1 => set.sha1 = FixedIndex::build(pairs),
                IndexKind::Sha256 => set.sha256 = FixedIndex::build(pairs),
                _ => set.indexes[kind as usize] = KeyIndex::build(pairs),
            }
        }
        set
    }

    /// Number of indicators in the set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap memory held by the set, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.indexes.iter().map(KeyIndex::heap_bytes).sum::<usize>()
            + self.md5.heap_bytes()
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self
                .scopes
                .iter()
                .map(|s| s.iter().map(|g| g.len() + 24).sum::<usize>() + 16)
                .sum::<usize>()
    }

    /// Every indicator in the set, compiled again (for merging into a new set).
    pub fn indicators(&self) -> impl Iterator<Item = CompiledIndicator> + '_ {
        INDEX_KINDS.into_iter().flat_map(move |kind| {
            let pairs: Box<dyn Iterator<Item = (&[u8], u32)> + '_> = match kind {
                IndexKind::Md5 => Box::new(self.md5.iter()),
                IndexKind::Sha1 => Box::new(self.sha1.iter()),
                IndexKind::Sha256 => Box::new(self.sha256.iter()),
                _ => Box::new(self.indexes[kind as usize].iter()),
            };
            pairs.map(move |(key, entry_number)| {
                let entry = self.entries[entry_number as usize];
                CompiledIndicator {
                    kind,
                    key: key.into(),
                    entry,
                    groups: self.scopes[entry.scope as usize].clone(),
                }
            })
        })
    }

    /// Ids of all indicators in the set.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// Appends to `out` every indicator in this set that matches `observable`, is active at
    /// `now` and whose scope covers `device`. `skip` hides ids superseded elsewhere.
    pub fn collect(
        &self,
        observable: &Observable,
        device: &Device,
        now: Timestamp,
        skip: &dyn Fn(i64) -> bool,
        out: &mut Vec<Candidate>,
    ) {
        let mut lookup = Lookup {
            set: self,
            device,
            now: now.ticks(),
            skip,
            out,
        };
        match observable {
            Observable::File(hashes) => lookup.file(hashes),
            Observable::Ip(ip) => lookup.ip(*ip),
            Observable::Domain(host) => lookup.domain(host),
            Observable::Url(url) => lookup.url(url),
        }
    }
}

/// One lookup in progress: the filters every found entry passes through.
struct Lookup<'a> {
    set: &'a MatchSet,
    device: &'a Device,
    now: i64,
    skip: &'a dyn Fn(i64) -> bool,
    out: &'a mut Vec<Candidate>,
}

impl Lookup<'_> {
    /// Filters one found entry (expiry, superseded, port, scope) into the candidates.
    #[inline]
    fn accept(&mut self, kind: IndexKind, entry_number: u32, specificity: u32, port: Option<u16>) {
        let set = self.set;
        let entry = set.entries[entry_number as usize];
        if entry.expires <= self.now || (self.skip)(entry.id) {
            return;
        }
        if let Some(port) = port
            && entry.port != 0
            && entry.port != port
        {
            return;
        }
        let scoped = entry.scope != 0;
        if scoped {
            let scope = &set.scopes[entry.scope as usize];
            if !self.device.groups.iter().any(|g| scope.contains(g)) {
                return;
            }
        }
        self.out.push(Candidate {
            id: entry.id,
            indicator_type: kind.indicator_type(),
            action: entry.action,
            scoped,
            specificity,
            generate_alert: entry.generate_alert,
        });
    }

    fn find(&mut self, kind: IndexKind, key: &[u8], specificity: u32, port: Option<u16>) {
        let index = &self.set.indexes[kind as usize];
        index.find(key, |entry_number| {
            self.accept(kind, entry_number, specificity, port)
        });
    }

    fn file(&mut self, hashes: &FileHashes) {
        let set = self.set;
        if let Some(hash) = &hashes.sha256 {
            set.sha256
                .find(hash, |entry| self.accept(IndexKind::Sha256, entry, 0, None));
        }
        if let Some(hash) = &hashes.sha1 {
            set.sha1
                .find(hash, |entry| self.accept(IndexKind::Sha1, entry, 0, None));
        }
        if let Some(hash) = &hashes.md5 {
            set.md5
                .find(hash, |entry| self.accept(IndexKind::Md5, entry, 0, None));
        }
        if let Some(thumbprint) = &hashes.certificate {
            self.find(IndexKind::Certificate, thumbprint, 0, None);
        }
    }

    fn ip(&mut self, ip: IpAddr) {
        let prefixes = match ip {
            IpAddr::V4(_) => &self.set.ipv4_prefixes,
            IpAddr::V6(_) => &self.set.ipv6_prefixes,
        };
        for &prefix_len in prefixes {
            let key = IpKey::new(ip, prefix_len);
            self.find(key.kind, key.as_bytes(), specificity::ip(prefix_len), None);
        }
    }

    fn domain(&mut self, host: &str) {
        if self.set.indexes[IndexKind::Domain as usize].len() == 0 {
            return;
        }
        let labels = host.split('.').count();
        let mut suffix = host;
        for depth in (1..=labels).rev() {
            self.find(
                IndexKind::Domain,
                suffix.as_bytes(),
                specificity::domain(depth),
                None,
            );
            match suffix.split_once('.') {
                Some((_, parent)) => suffix = parent,
                None => break,
            }
        }
    }

    fn url(&mut self, url: &ObservedUrl) {
        let host = url.host();
        if self.set.indexes[IndexKind::Url as usize].len() > 0 {
            let port = Some(url.port());
            let path = url.path().trim_end_matches('/');
            if let Some(query) = url.query() {
                let key = url.match_key();
                let len = path.len() + 1 + query.len();
                self.find(IndexKind::Url, key.as_bytes(), specificity::url(len), port);
            }
            let mut prefix = path;
            let mut key = Vec::with_capacity(host.len() + path.len());
            loop {
                key.clear();
                key.extend_from_slice(host.as_bytes());
                key.extend_from_slice(prefix.as_bytes());
                self.find(IndexKind::Url, &key, specificity::url(prefix.len()), port);
                match prefix.rfind('/') {
                    Some(slash) => prefix = &prefix[..slash],
                    None => break,
                }
            }
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => self.ip(ip),
            Err(_) => self.domain(host),
        }
    }
}
