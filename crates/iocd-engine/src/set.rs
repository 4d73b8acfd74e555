//! The compiled match set: every active indicator of one tenant in eight indexes (a hash table
//! per file hash kind; key indexes for certificates, IPv4, IPv6, domains, URLs), immutable once
//! built and shared between threads.

use crate::fingerprint::{Direction, Prefixes, Suffixes, fingerprint, suffix_fingerprint};
use crate::index::{
    HashTable, KeyHashing, KeyIndex, PresenceFilter, RecordValue, in_block, record_bytes, spread,
};
use crate::observable::{FileHashes, Observable};
use crate::policy::{Candidate, specificity};
use iocd_model::{Action, CanonicalUrl, IndicatorType, IndicatorValue, Timestamp};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The matching-relevant part of an indicator, as the engine's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIndicator {
    pub id: i64,
    /// The parsed value; its variant is the indicator type.
    pub value: IndicatorValue,
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
            value: indicator.spec.value.clone(),
            action: indicator.spec.action,
            groups: indicator.spec.rbac_group_names.clone(),
            expires: indicator.spec.expiration_time,
            generate_alert: indicator.spec.generate_alert,
        }
    }
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
    /// How the kind's [`KeyIndex`] fingerprints keys and places filter bits. A URL lookup
    /// asks for prefixes of one key, so URL keys are fingerprinted forward; a domain lookup
    /// asks for suffixes, so domain keys are fingerprinted backward. Both place their filter
    /// bits by the [`domain_block`] of their host, in the one filter the two indexes share:
    /// the keys a URL lookup asks for (its path prefixes, its host and the host's parents)
    /// then share their words' hashing and, mostly, one filter line.
    fn hashing(self) -> KeyHashing {
        match self {
            IndexKind::Url => KeyHashing {
                direction: Direction::Forward,
                block: Some(url_block),
            },
            IndexKind::Domain => KeyHashing {
                direction: Direction::Backward,
                block: Some(domain_block),
            },
            _ => KeyHashing::default(),
        }
    }

    /// Whether the kind's filter bits are in the set's shared network filter, which planning
    /// asks (the stages then start after it).
    fn filtered_in_planning(self) -> bool {
        matches!(self, IndexKind::Url | IndexKind::Domain)
    }

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

/// The per-indicator record the indexes hold beside each key: 24 bytes.
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

/// An entry in a [`KeyIndex`] record: its fields in order, little-endian, 24 bytes.
impl RecordValue for Entry {
    const LEN: usize = 24;

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.expires.to_le_bytes());
        out.extend_from_slice(&self.scope.to_le_bytes());
        out.extend_from_slice(&self.port.to_le_bytes());
        out.push(self.action as u8);
        out.push(u8::from(self.generate_alert));
    }

    #[inline]
    fn read(bytes: &[u8]) -> Entry {
        let [action, generate_alert] = record_bytes(bytes, 22);
        Entry {
            id: i64::from_le_bytes(record_bytes(bytes, 0)),
            expires: i64::from_le_bytes(record_bytes(bytes, 8)),
            scope: u32::from_le_bytes(record_bytes(bytes, 16)),
            port: u16::from_le_bytes(record_bytes(bytes, 20)),
            // Written from an `Action`, so always one.
            action: Action::ALL
                .get(usize::from(action))
                .copied()
                .unwrap_or(Action::Audit),
            generate_alert: generate_alert != 0,
        }
    }
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
    len: u8,
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
        &self.bytes[..usize::from(self.len)]
    }
}

fn ip_key(address: IpAddr, prefix_len: u8) -> (IndexKind, Box<[u8]>) {
    let key = IpKey::new(address, prefix_len);
    (key.kind, key.as_bytes().into())
}

/// Compiles one indicator into its index key. `groups` are lower-cased so scope comparison
/// ignores case. Every parsed value has a key, so this cannot fail.
pub fn compile(indicator: &EngineIndicator) -> CompiledIndicator {
    let mut port = 0u16;
    let (kind, key): (IndexKind, Box<[u8]>) = match &indicator.value {
        IndicatorValue::FileMd5(bytes) => (IndexKind::Md5, bytes.as_slice().into()),
        IndicatorValue::FileSha1(bytes) => (IndexKind::Sha1, bytes.as_slice().into()),
        IndicatorValue::FileSha256(bytes) => (IndexKind::Sha256, bytes.as_slice().into()),
        IndicatorValue::CertificateThumbprint(thumbprint) => {
            (IndexKind::Certificate, thumbprint.as_bytes().into())
        }
        IndicatorValue::IpAddress(network) => ip_key(network.address, network.prefix_len_or_full()),
        IndicatorValue::DomainName(name) => (IndexKind::Domain, name.as_str().as_bytes().into()),
        IndicatorValue::Url(url) => {
            port = url.explicit_port().unwrap_or(0);
            (IndexKind::Url, url.match_key().as_bytes().into())
        }
    };
    let mut groups: Vec<String> = indicator.groups.iter().map(|g| g.to_lowercase()).collect();
    groups.sort_unstable();
    groups.dedup();
    CompiledIndicator {
        kind,
        key,
        entry: Entry {
            id: indicator.id,
            expires: indicator.expires.map_or(i64::MAX, Timestamp::ticks),
            scope: 0,
            port,
            action: indicator.action,
            generate_alert: indicator.generate_alert,
        },
        groups: groups.into(),
    }
}

/// `key` as an array of `N` bytes, if it has that length.
fn fixed<const N: usize>(key: &[u8]) -> Option<[u8; N]> {
    key.try_into().ok()
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
    /// File hashes, each with its entry in the same slot.
    md5: HashTable<16, Entry>,
    sha1: HashTable<20, Entry>,
    sha256: HashTable<32, Entry>,
    /// Indexed by [`IndexKind`]; the three hash kinds above leave their slot here empty.
    indexes: [KeyIndex<Entry>; 8],
    /// The filter of the URL and domain indexes (theirs stay empty), shared so that one line
    /// holds the bits of a URL's keys and of its host's domains (see [`IndexKind::hashing`]).
    network_filter: PresenceFilter,
    /// Scope 0 is "all devices" (empty).
    scopes: Vec<Arc<[String]>>,
    /// The numbers of labels domain indicators have: bit `n - 1` for `n` labels (bit 63 for
    /// 64 or more). A lookup asks only for the host's suffixes with a number present.
    domain_labels: u64,
    /// Prefix lengths present among IPv4 / IPv6 indicators, longest first.
    ipv4_prefixes: Vec<u8>,
    ipv6_prefixes: Vec<u8>,
}

impl MatchSet {
    /// Builds a set from compiled indicators.
    pub fn build(indicators: Vec<CompiledIndicator>) -> MatchSet {
        let mut set = MatchSet {
            scopes: vec![Arc::from(Vec::new())],
            ..MatchSet::default()
        };
        let mut scope_numbers: HashMap<Arc<[String]>, u32> = HashMap::new();
        let mut pairs: [Vec<(Box<[u8]>, Entry)>; 8] = Default::default();
        let (mut md5, mut sha1, mut sha256) = (Vec::new(), Vec::new(), Vec::new());
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
            let entry = indicator.entry;
            // Hash keys are the hash's bytes, so `fixed` takes every one.
            let hashed = match indicator.kind {
                IndexKind::Md5 => fixed(&indicator.key).map(|key| md5.push((key, entry))),
                IndexKind::Sha1 => fixed(&indicator.key).map(|key| sha1.push((key, entry))),
                IndexKind::Sha256 => fixed(&indicator.key).map(|key| sha256.push((key, entry))),
                _ => None,
            }
            .is_some();
            match indicator.kind {
                IndexKind::Ipv4 => set.ipv4_prefixes.push(indicator.key[0]),
                IndexKind::Domain => {
                    let labels = 1 + indicator.key.iter().filter(|&&b| b == b'.').count();
                    set.domain_labels |= label_bit(labels);
                }
                IndexKind::Ipv6 => set.ipv6_prefixes.push(indicator.key[0]),
                _ => {}
            }
            if !hashed {
                pairs[indicator.kind as usize].push((indicator.key, entry));
            }
        }
        set.md5 = HashTable::build(md5);
        set.sha1 = HashTable::build(sha1);
        set.sha256 = HashTable::build(sha256);
        for prefixes in [&mut set.ipv4_prefixes, &mut set.ipv6_prefixes] {
            prefixes.sort_unstable_by(|a, b| b.cmp(a));
            prefixes.dedup();
        }
        let network_keys: usize = INDEX_KINDS
            .into_iter()
            .filter(|kind| kind.filtered_in_planning())
            .map(|kind| pairs[kind as usize].len())
            .sum();
        if network_keys > 0 {
            set.network_filter = PresenceFilter::new(network_keys);
        }
        for (kind, pairs) in INDEX_KINDS.into_iter().zip(pairs) {
            let hashing = kind.hashing();
            set.indexes[kind as usize] = match kind.filtered_in_planning() {
                true => KeyIndex::build_into(pairs, hashing, &mut set.network_filter),
                false => KeyIndex::build(pairs, hashing),
            };
        }
        set
    }

    /// Number of indicators in the set.
    pub fn len(&self) -> usize {
        self.indexes.iter().map(KeyIndex::len).sum::<usize>()
            + self.md5.len()
            + self.sha1.len()
            + self.sha256.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap memory held by the set, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.indexes.iter().map(KeyIndex::heap_bytes).sum::<usize>()
            + self.network_filter.heap_bytes()
            + self.md5.heap_bytes()
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self
                .scopes
                .iter()
                .map(|s| s.iter().map(|g| g.len() + 24).sum::<usize>() + 16)
                .sum::<usize>()
    }

    /// Every `(kind, key, entry)` in the set.
    fn keyed_entries(&self) -> impl Iterator<Item = (IndexKind, &[u8], Entry)> + '_ {
        INDEX_KINDS.into_iter().flat_map(move |kind| {
            let pairs: Box<dyn Iterator<Item = (&[u8], Entry)> + '_> = match kind {
                IndexKind::Md5 => Box::new(self.md5.iter().map(|(k, e)| (&k[..], e))),
                IndexKind::Sha1 => Box::new(self.sha1.iter().map(|(k, e)| (&k[..], e))),
                IndexKind::Sha256 => Box::new(self.sha256.iter().map(|(k, e)| (&k[..], e))),
                _ => Box::new(self.indexes[kind as usize].iter()),
            };
            pairs.map(move |(key, entry)| (kind, key, entry))
        })
    }

    /// Every indicator in the set, compiled again (for merging into a new set).
    pub fn indicators(&self) -> impl Iterator<Item = CompiledIndicator> + '_ {
        self.keyed_entries()
            .map(|(kind, key, entry)| CompiledIndicator {
                kind,
                key: key.into(),
                entry,
                groups: self.scopes[entry.scope as usize].clone(),
            })
    }

    /// Ids of all indicators in the set.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.keyed_entries().map(|(_, _, entry)| entry.id)
    }

    /// For each `(observable, device)` of `items`, appends to the same position of `out` every
    /// indicator in this set that matches the observable, is active at `now` and whose scope
    /// covers the device. `skip` hides ids superseded elsewhere; `scratch` is reused memory.
    ///
    /// All the keys the items need are looked up together, one stage at a time (see
    /// [`KeyIndex`]'s stages), so their memory accesses overlap instead of waiting in turn.
    pub(crate) fn collect_batch(
        &self,
        items: &[(&Observable, &Device)],
        now: Timestamp,
        skip: Option<&dyn Fn(i64) -> bool>,
        out: &mut [Vec<Candidate>],
        scratch: &mut Scratch,
    ) {
        let Scratch {
            probes,
            hashes,
            networks,
            url_hosts,
            domains,
            pending,
            found,
            cuts,
        } = scratch;
        networks.clear();
        probes.clear();
        hashes.clear();
        url_hosts.clear();
        domains.clear();
        pending.clear();
        found.clear();
        // Stage 0, for hosts: their URL and domain keys have their filter bits in the line of
        // the host's domain block (see `IndexKind::hashing`). Ask for that line, fingerprinting
        // the host's domains on the way, before planning reads it.
        let url_index = &self.indexes[IndexKind::Url as usize];
        let domain_index = &self.indexes[IndexKind::Domain as usize];
        let filter = &self.network_filter;
        let plan_hosts = url_index.len() + domain_index.len() > 0;
        // 0 when the set has no domain indicators: then no domains are asked for.
        let wanted = self.domain_labels;
        for (item, (observable, _)) in items.iter().enumerate() {
            match observable {
                Observable::Url(url) => {
                    let host = url.host();
                    let ip = host_ip(host);
                    let block = match ip {
                        _ if !plan_hosts => 0,
                        // An IP host has no domains to look up, but its URLs' keys are placed
                        // by its block all the same.
                        Some(_) => {
                            let block = suffix_fingerprint(domain_block(host.as_bytes()));
                            filter.prefetch(block);
                            block
                        }
                        None => plan_domains(item as u32, host, filter, wanted, domains),
                    };
                    url_hosts.resize(item, UrlHost::default());
                    url_hosts.push(UrlHost { block, ip });
                }
                Observable::Domain(host) if wanted != 0 => {
                    plan_domains(item as u32, host, filter, wanted, domains);
                }
                _ => {}
            }
        }
        for (item, (observable, _)) in items.iter().enumerate() {
            let mut planner = Planner {
                set: self,
                item: item as u32,
                probes,
                networks,
                cuts,
            };
            match observable {
                Observable::File(file) => {
                    self.plan_hashes(item as u32, file, hashes);
                    planner.certificate(file);
                }
                Observable::Ip(ip) => planner.ip(*ip),
                Observable::Domain(_) => {}
                Observable::Url(url) => {
                    let host = url_hosts.get(item).copied().unwrap_or_default();
                    planner.url(url, &host);
                }
            }
        }
        // The domains whose filter bit is set.
        for domain in domains.iter() {
            if filter.may_contain(domain.filter) {
                let specificity = specificity::domain(domain.labels as usize);
                probes.push(Probe {
                    fingerprint: domain.fingerprint,
                    item: domain.item,
                    specificity,
                    key: ProbeKey::Host {
                        start: domain.start,
                    },
                    port: None,
                    kind: IndexKind::Domain,
                });
            }
        }
        let key_of = |probe: &Probe| probe.key.resolve(items[probe.item as usize].0, networks);
        let now = now.ticks();

        // Stage 1: the filter lines of what planning did not filter, the slots of what it did.
        for probe in hashes.iter() {
            match probe.kind {
                HashKind::Md5 => self.md5.prefetch_head(probe.spread),
                HashKind::Sha1 => self.sha1.prefetch_head(probe.spread),
                HashKind::Sha256 => self.sha256.prefetch_head(probe.spread),
            }
        }
        for probe in probes.iter() {
            let index = &self.indexes[probe.kind as usize];
            match probe.kind.filtered_in_planning() {
                true => index.prefetch_run(probe.fingerprint),
                false => index.prefetch_filter(probe.fingerprint),
            }
        }
        // Stage 2: the filters; slots of what passes.
        hashes.retain(|probe| match probe.kind {
            HashKind::Md5 => self.md5.may_contain(probe.spread),
            HashKind::Sha1 => self.sha1.may_contain(probe.spread),
            HashKind::Sha256 => self.sha256.may_contain(probe.spread),
        });
        for (number, probe) in probes.iter().enumerate() {
            if !probe.kind.filtered_in_planning() {
                let index = &self.indexes[probe.kind as usize];
                // Placed by key, these kinds' filter hash is the fingerprint.
                if !index.may_contain(probe.fingerprint) {
                    continue;
                }
                index.prefetch_run(probe.fingerprint);
            }
            pending.push(number as u32);
        }
        // Stage 3: file hashes are found, entries and all; the other kinds find the slots
        // with their tag, and ask for those slots' records.
        for probe in hashes.iter() {
            let item = probe.item as usize;
            let (Observable::File(file), device) = items[item] else {
                continue;
            };
            let mut hit = |entry: Entry| {
                let kind = probe.kind.index_kind();
                if let Some(candidate) = self.accept(kind, entry, 0, None, device, now, skip) {
                    out[item].push(candidate);
                }
            };
            match probe.kind {
                HashKind::Md5 => file
                    .md5
                    .iter()
                    .for_each(|key| self.md5.find(key, probe.spread, &mut hit)),
                HashKind::Sha1 => file
                    .sha1
                    .iter()
                    .for_each(|key| self.sha1.find(key, probe.spread, &mut hit)),
                HashKind::Sha256 => file
                    .sha256
                    .iter()
                    .for_each(|key| self.sha256.find(key, probe.spread, &mut hit)),
            }
        }
        for &number in pending.iter() {
            let probe = &probes[number as usize];
            let key_len = probe.key.len_hint();
            self.indexes[probe.kind as usize].same_tag(probe.fingerprint, key_len, |position| {
                found.push((number, position))
            });
        }
        // Stage 4: the other kinds compare key bytes (tags can collide) and accept.
        for &(number, position) in found.iter() {
            let probe = &probes[number as usize];
            let index = &self.indexes[probe.kind as usize];
            if !index.key_is(position, key_of(probe)) {
                continue;
            }
            let item = probe.item as usize;
            if let Some(candidate) = self.accept(
                probe.kind,
                index.value(position),
                probe.specificity,
                probe.port,
                items[item].1,
                now,
                skip,
            ) {
                out[item].push(candidate);
            }
        }
    }

    /// Adds a [`HashProbe`] for each of `file`'s hashes whose table is not empty.
    fn plan_hashes(&self, item: u32, file: &FileHashes, hashes: &mut Vec<HashProbe>) {
        let mut plan = |kind: HashKind, key: Option<&[u8]>, table_len: usize| {
            if let Some(key) = key
                && table_len > 0
            {
                hashes.push(HashProbe {
                    item,
                    kind,
                    spread: spread(key),
                });
            }
        };
        plan(
            HashKind::Sha256,
            file.sha256.as_ref().map(|k| &k[..]),
            self.sha256.len(),
        );
        plan(
            HashKind::Sha1,
            file.sha1.as_ref().map(|k| &k[..]),
            self.sha1.len(),
        );
        plan(
            HashKind::Md5,
            file.md5.as_ref().map(|k| &k[..]),
            self.md5.len(),
        );
    }

    /// Filters one found entry (expiry, superseded, port, scope) into a candidate.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn accept(
        &self,
        kind: IndexKind,
        entry: Entry,
        specificity: u32,
        port: Option<u16>,
        device: &Device,
        now: i64,
        skip: Option<&dyn Fn(i64) -> bool>,
    ) -> Option<Candidate> {
        if entry.expires <= now || skip.is_some_and(|skip| skip(entry.id)) {
            return None;
        }
        if let Some(port) = port
            && entry.port != 0
            && entry.port != port
        {
            return None;
        }
        let scoped = entry.scope != 0;
        if scoped {
            let scope = &self.scopes[entry.scope as usize];
            if !device.groups.iter().any(|g| scope.contains(g)) {
                return None;
            }
        }
        Some(Candidate {
            id: entry.id,
            indicator_type: kind.indicator_type(),
            action: entry.action,
            scoped,
            specificity,
            generate_alert: entry.generate_alert,
        })
    }
}

/// Where a probe's key is: a part of its observable, or an IP network built for it. Probes
/// point into their observables instead of borrowing, so their buffers can be reused.
#[derive(Debug, Clone, Copy)]
enum ProbeKey {
    /// The file's certificate thumbprint.
    Certificate,
    /// The first `len` bytes of the URL's match key.
    UrlKey { len: u32 },
    /// The host (of a domain or URL observable) from byte `start` on.
    Host { start: u32 },
    /// The network at this position of [`Scratch::networks`].
    Ip { network: u32 },
}

impl ProbeKey {
    /// The key's length where the probe alone tells it (URL keys, the long ones), else 0:
    /// enough for [`KeyIndex::same_tag`] to ask for the start of a record, which holds all of
    /// a short key.
    #[inline]
    fn len_hint(&self) -> usize {
        match self {
            ProbeKey::UrlKey { len } => *len as usize,
            _ => 0,
        }
    }

    /// The key's bytes, found in its observable (empty if the observable lacks it, which
    /// planning never lets happen).
    fn resolve<'a>(&self, observable: &'a Observable, networks: &'a [IpKey]) -> &'a [u8] {
        let host = |host: &'a str, start: u32| host.as_bytes().get(start as usize..);
        let key = match (self, observable) {
            (ProbeKey::Ip { network }, _) => networks.get(*network as usize).map(IpKey::as_bytes),
            (ProbeKey::Certificate, Observable::File(file)) => {
                file.certificate.as_ref().map(|t| t.as_bytes())
            }
            (ProbeKey::UrlKey { len }, Observable::Url(url)) => {
                url.match_key().as_bytes().get(..*len as usize)
            }
            (ProbeKey::Host { start }, Observable::Domain(name)) => host(name, *start),
            (ProbeKey::Host { start }, Observable::Url(url)) => host(url.host(), *start),
            _ => None,
        };
        key.unwrap_or_default()
    }
}

/// The three file hash tables.
#[derive(Debug, Clone, Copy)]
enum HashKind {
    Md5,
    Sha1,
    Sha256,
}

impl HashKind {
    fn index_kind(self) -> IndexKind {
        match self {
            HashKind::Md5 => IndexKind::Md5,
            HashKind::Sha1 => IndexKind::Sha1,
            HashKind::Sha256 => IndexKind::Sha256,
        }
    }
}

/// One file hash to look up on behalf of one observable: 16 bytes, because most lookups are
/// of hashes.
#[derive(Debug, Clone)]
struct HashProbe {
    item: u32,
    kind: HashKind,
    /// Of the hash, see [`spread`].
    spread: u64,
}

/// Memory [`MatchSet::collect_batch`] reuses from one call to the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    probes: Vec<Probe>,
    hashes: Vec<HashProbe>,
    /// The IP networks the probes look up.
    networks: Vec<IpKey>,
    /// Per item (up to the last URL), what stage 0 learnt of its URL's host.
    url_hosts: Vec<UrlHost>,
    /// The domains (hosts and parents) to look up, before their filter.
    domains: Vec<DomainKey>,
    /// The probes whose key may be in their index, after the filters.
    pending: Vec<u32>,
    /// The prefix lengths of the URL being planned.
    cuts: Vec<u32>,
    /// (probe, slot position) of every slot that may hold a probe's key.
    found: Vec<(u32, u32)>,
}

/// One key of a [`KeyIndex`] to look up on behalf of one observable, with what a match of it
/// means: 32 bytes, so the stages move them cheaply. URL and domain keys become probes only
/// once their filter bit is found set; the other kinds' filters are asked in the stages.
#[derive(Debug, Clone)]
struct Probe {
    /// Of the key, in its index's direction.
    fingerprint: u64,
    item: u32,
    specificity: u32,
    key: ProbeKey,
    port: Option<u16>,
    kind: IndexKind,
}

/// Turns one observable into the probes its lookup needs in one set.
struct Planner<'a> {
    set: &'a MatchSet,
    item: u32,
    probes: &'a mut Vec<Probe>,
    networks: &'a mut Vec<IpKey>,
    /// The lengths of the URL prefixes to look up (reused memory).
    cuts: &'a mut Vec<u32>,
}

impl Planner<'_> {
    /// Adds a probe for `key`, whose bytes are `bytes`, unless its index is empty (the URL
    /// probes, which carry a port, are added by [`Planner::url`]).
    fn push_key(&mut self, kind: IndexKind, key: ProbeKey, bytes: &[u8], specificity: u32) {
        if self.set.indexes[kind as usize].len() > 0 {
            self.probes.push(Probe {
                item: self.item,
                kind,
                key,
                fingerprint: fingerprint(bytes),
                specificity,
                port: None,
            });
        }
    }

    /// The signer's thumbprint (the hashes take [`MatchSet::plan_hashes`]).
    fn certificate(&mut self, hashes: &FileHashes) {
        if let Some(thumbprint) = &hashes.certificate {
            let key = ProbeKey::Certificate;
            self.push_key(IndexKind::Certificate, key, thumbprint.as_bytes(), 0);
        }
    }

    fn ip(&mut self, ip: IpAddr) {
        let set = self.set;
        let prefixes = match ip {
            IpAddr::V4(_) => &set.ipv4_prefixes,
            IpAddr::V6(_) => &set.ipv6_prefixes,
        };
        for &prefix_len in prefixes {
            let network = IpKey::new(ip, prefix_len);
            let key = ProbeKey::Ip {
                network: self.networks.len() as u32,
            };
            let specificity = specificity::ip(prefix_len);
            self.push_key(network.kind, key, network.as_bytes(), specificity);
            self.networks.push(network);
        }
    }

    /// The URL's key and its parent paths whose filter bit is set (all in the line of the
    /// host's domain block), then the lookups of an IP host (those of a DNS host were planned
    /// with the domains).
    fn url(&mut self, url: &CanonicalUrl, url_host: &UrlHost) {
        let host = url.host();
        let index = &self.set.indexes[IndexKind::Url as usize];
        let line = self.set.network_filter.line(url_host.block);
        if let Some(line) = line.filter(|_| index.len() > 0) {
            let port = Some(url.port());
            let key = url.match_key().as_bytes();
            let without_query = url.key_without_query().len();
            // Shortest first: the host, the path cut before each inner `/`, the whole path,
            // then with the query.
            let cuts = &mut *self.cuts;
            cuts.clear();
            cuts.push(host.len() as u32);
            let path = key.get(host.len() + 1..without_query).unwrap_or_default();
            crate::bytes::for_each_position(path, b'/', |at| {
                cuts.push((host.len() + 1 + at) as u32);
            });
            if without_query > host.len() {
                cuts.push(without_query as u32);
            }
            if key.len() > without_query {
                cuts.push(key.len() as u32);
            }
            // Every key's bits are in the host's block's line.
            let mut prefixes = Prefixes::new(key);
            for &len in cuts.iter() {
                let fingerprint = prefixes.of(len as usize);
                if line.may_contain(fingerprint) {
                    self.probes.push(Probe {
                        item: self.item,
                        kind: IndexKind::Url,
                        key: ProbeKey::UrlKey { len },
                        fingerprint,
                        specificity: specificity::url(len as usize - host.len()),
                        port,
                    });
                }
            }
        }
        if let Some(ip) = url_host.ip {
            self.ip(ip);
        }
    }
}
/// The part of a URL key its filter bits are placed by: the [`domain_block`] of its host.
fn url_block(key: &[u8]) -> &[u8] {
    let host_end = key
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(key.len());
    domain_block(&key[..host_end])
}

/// The part of a domain key its [`KeyIndex`] filter groups keys by: its last two labels, or
/// three when the second-to-last is three bytes or shorter (`bbc.co.uk`, `example.com.au`,
/// where the last two are a public suffix shared by too many names to group by); the key
/// itself when it has no more labels than that. It depends on the last labels only, so a
/// host and each parent at least as long as its block have the same block. Only speed
/// depends on the choice of labels.
pub(crate) fn domain_block(key: &[u8]) -> &[u8] {
    let mut label_end = key.len();
    for (labels, dot) in (1..).zip(crate::bytes::positions_rev(key, b'.')) {
        if ends_block(labels, label_end - dot - 1) {
            return &key[dot + 1..];
        }
        label_end = dot;
    }
    key
}

/// Whether the suffix of `labels` labels whose first (leftmost) label is `first_label_len`
/// bytes long is a domain block (see [`domain_block`]), none shorter having been.
#[inline]
fn ends_block(labels: usize, first_label_len: usize) -> bool {
    (labels == 2 && first_label_len > 3) || labels == 3
}

/// What planning needs of a URL's host: the backward fingerprint of its [`domain_block`],
/// which places the filter bits of the URL's keys, and the IP address the host is, if it is
/// one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UrlHost {
    block: u64,
    ip: Option<IpAddr>,
}

/// One domain a host's lookup asks for: the host or a parent.
#[derive(Debug, Clone)]
pub(crate) struct DomainKey {
    /// Its [`suffix_fingerprint`](crate::fingerprint::suffix_fingerprint).
    fingerprint: u64,
    /// Where the domain filter keeps its bit.
    filter: u64,
    item: u32,
    /// Where it starts in the host.
    start: u32,
    labels: u32,
}

/// The bit of [`MatchSet::domain_labels`] for a domain of `labels` labels.
#[inline]
fn label_bit(labels: usize) -> u64 {
    1 << (labels.clamp(1, 64) - 1)
}

/// Appends to `domains` the host and each parent domain of `host` whose number of labels has
/// its bit in `wanted` (see [`MatchSet::domain_labels`]; 0 for none), fingerprinted backward
/// in one pass and placed in `filter` by their [`domain_block`]; asks for the filter line of
/// the host's block, and returns the block's fingerprint.
fn plan_domains(
    item: u32,
    host: &str,
    filter: &PresenceFilter,
    wanted: u64,
    domains: &mut Vec<DomainKey>,
) -> u64 {
    let bytes = host.as_bytes();
    let mut suffixes = Suffixes::new(bytes);
    // The block's fingerprint, once the suffixes have reached it.
    let mut block = None;
    // From the last label to the whole host: the suffix from `start`, whose first label ends
    // at `label_end`, has `labels` labels.
    let mut dots = crate::bytes::positions_rev(bytes, b'.');
    let mut labels = 0;
    let mut label_end = bytes.len();
    loop {
        let dot = dots.next();
        let start = dot.map_or(0, |dot| dot + 1);
        labels += 1;
        let is_block = block.is_none() && (ends_block(labels, label_end - start) || start == 0);
        let is_wanted = wanted & label_bit(labels) != 0;
        if is_block || is_wanted {
            let fingerprint = suffixes.of(start);
            let filter_hash = match block {
                Some(block) => in_block(block, fingerprint),
                None => fingerprint,
            };
            if is_block {
                block = Some(fingerprint);
                filter.prefetch(fingerprint);
            }
            if is_wanted {
                domains.push(DomainKey {
                    fingerprint,
                    filter: filter_hash,
                    item,
                    start: start as u32,
                    labels: labels as u32,
                });
            }
        }
        match dot {
            Some(dot) => label_end = dot,
            None => break,
        }
    }
    // The whole host (`start == 0`) sets the block if no shorter suffix did.
    block.unwrap_or_default()
}

/// The IP address a URL's host is, if it is one.
#[inline]
fn host_ip(host: &str) -> Option<IpAddr> {
    // Canonical DNS hosts never end in a digit (the last label of one that does makes it an
    // IPv4 address), and only IPv6 hosts hold a `:`.
    let maybe_ip = host.as_bytes().last().is_some_and(|&b| {
        b.is_ascii_digit() || ((b.is_ascii_hexdigit() || b == b':') && host.contains(':'))
    });
    maybe_ip.then(|| host.parse::<IpAddr>().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::suffix_fingerprint;

    #[test]
    fn entries_read_back_as_written() {
        let mut entries = vec![Entry {
            id: 0,
            expires: i64::MIN,
            scope: 0,
            port: 0,
            action: Action::Audit,
            generate_alert: false,
        }];
        for (n, &action) in Action::ALL.iter().enumerate() {
            entries.push(Entry {
                id: -(n as i64) * 0x0123_4567_89AB,
                expires: i64::MAX - n as i64,
                scope: u32::MAX - n as u32,
                port: 65_535 - n as u16,
                action,
                generate_alert: n % 2 == 0,
            });
        }
        for entry in entries {
            let mut bytes = vec![0xEE; 3];
            entry.write(&mut bytes);
            assert_eq!(bytes.len(), 3 + Entry::LEN);
            assert_eq!(Entry::read(&bytes[3..]), entry);
        }
    }

    #[test]
    fn domain_blocks() {
        let cases = [
            ("", ""),
            ("localhost", "localhost"),
            ("com", "com"),
            ("example.com", "example.com"),
            ("www.example.com", "example.com"),
            ("a.b.www.example.com", "example.com"),
            ("co.uk", "co.uk"),
            ("bbc.co.uk", "bbc.co.uk"),
            ("news.bbc.co.uk", "bbc.co.uk"),
            ("cnn.com", "cnn.com"),
            ("www.cnn.com", "www.cnn.com"),
            ("x.www.cnn.com", "www.cnn.com"),
        ];
        for (key, block) in cases {
            assert_eq!(domain_block(key.as_bytes()), block.as_bytes(), "{key}");
        }
    }

    /// Planning places the filter bits of each domain and each URL key of a host where
    /// building the indexes does, in the line of the host's domain block.
    #[test]
    fn planned_filter_positions_agree_with_the_indexes() {
        let hosts = [
            "localhost",
            "example.com",
            "a.b.www.example.com",
            "news.bbc.co.uk",
            "x.www.cnn.com",
            "a.b.c.d.e.very-long-host-label.example.org",
            "192.0.2.1",
            "2001:db8::1",
        ];
        let (domain_hashing, url_hashing) = (IndexKind::Domain.hashing(), IndexKind::Url.hashing());
        for host in hosts {
            let suffixes: Vec<(Box<[u8]>, u32)> = std::iter::once(0)
                .chain(host.match_indices('.').map(|(dot, _)| dot + 1))
                .map(|start| (host.as_bytes()[start..].into(), 0))
                .collect();
            let urls: Vec<(Box<[u8]>, u32)> = ["", "/a", "/a/b", "/a/b?q=1"]
                .iter()
                .map(|path| (format!("{host}{path}").into_bytes().into(), 0))
                .collect();
            let mut filter = PresenceFilter::new(suffixes.len() + urls.len());
            KeyIndex::build_into(suffixes.clone(), domain_hashing, &mut filter);
            KeyIndex::build_into(urls.clone(), url_hashing, &mut filter);
            let mut domains = Vec::new();
            let block = plan_domains(7, host, &filter, u64::MAX, &mut domains);
            assert_eq!(block, suffix_fingerprint(domain_block(host.as_bytes())));
            assert_eq!(domains.len(), suffixes.len(), "{host}");
            for domain in &domains {
                let key = &host.as_bytes()[domain.start as usize..];
                assert_eq!(domain.fingerprint, suffix_fingerprint(key), "{host}");
                assert_eq!(
                    domain.filter,
                    domain_hashing.filter_hash(key, domain.fingerprint),
                    "{host}"
                );
                assert!(filter.may_contain(domain.filter), "{host}");
                let labels = host[domain.start as usize..].split('.').count() as u32;
                assert_eq!((domain.item, domain.labels), (7, labels), "{host}");
            }
            for (key, _) in &urls {
                let planned = in_block(block, fingerprint(key));
                assert_eq!(planned, url_hashing.filter_hash(key, fingerprint(key)));
                assert!(filter.may_contain(planned), "{host}");
            }
            // Without the domains, the same block; with some label counts, just those.
            let mut none = Vec::new();
            assert_eq!(plan_domains(7, host, &filter, 0, &mut none), block);
            assert!(none.is_empty());
            let mut two_labels = Vec::new();
            assert_eq!(plan_domains(7, host, &filter, 0b10, &mut two_labels), block);
            let with_two: Vec<u32> = domains
                .iter()
                .filter(|d| d.labels == 2)
                .map(|d| d.start)
                .collect();
            let starts: Vec<u32> = two_labels.iter().map(|d| d.start).collect();
            assert_eq!(starts, with_two, "{host}");
        }
    }
}
