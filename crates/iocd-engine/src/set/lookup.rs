//! Looking a batch of observables up in a [`MatchSet`]: each is planned into key probes, and
//! the probes of the whole batch go through the indexes one stage at a time, each stage asking
//! for the memory the next one reads, so their cache misses overlap (decision 0011).

use super::{Device, MatchSet, label_bit};
use crate::blocks::{domain_block, ends_block};
use crate::compile::{Entry, IndexKind, IpKey};
use crate::fingerprint::{Prefixes, Suffixes, fingerprint, suffix_fingerprint};
use crate::index::{PresenceFilter, in_block, spread};
use crate::observable::{FileHashes, Observable};
use crate::policy::{Candidate, specificity};
use iocd_model::{CanonicalUrl, Timestamp};
use std::net::IpAddr;

impl MatchSet {
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
    use crate::index::KeyIndex;

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
