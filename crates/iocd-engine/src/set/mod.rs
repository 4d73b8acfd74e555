//! The compiled match set: every active indicator of one tenant in eight indexes (a hash table
//! per file hash kind; key indexes for certificates, IPv4, IPv6, domains, URLs), immutable once
//! built and shared between threads. Looking items up in it, in stages, is [`lookup`].

mod lookup;

pub(crate) use lookup::Scratch;

use crate::compile::{CompiledIndicator, Entry, INDEX_KINDS, IndexKind, fixed};
use crate::index::{HashTable, KeyIndex, PresenceFilter};
use std::collections::HashMap;
use std::sync::Arc;

/// The key of a registered device group in scopes and devices: `#` and its id. Scopes and
/// devices carry these where a group registry is known (the server), and lower-case group
/// names where it is not (files read offline); the `#` keeps the two apart.
pub fn group_key(id: i64) -> String {
    format!("#{id}")
}

/// The device an observable was seen on: the keys of its device groups ([`group_key`]s, or
/// group names where no registry is known).
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
}

/// The bit of [`MatchSet::domain_labels`] for a domain of `labels` labels.
#[inline]
fn label_bit(labels: usize) -> u64 {
    1 << (labels.clamp(1, 64) - 1)
}
