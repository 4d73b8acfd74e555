//! A compact, immutable map from byte-string keys to entry numbers, built once and searched
//! without allocation: keys sorted by a 64-bit fingerprint, with a directory on its top bits.
//!
//! Memory per key is the key bytes plus a 16-byte slot (fingerprint, entry number, key end)
//! plus one to two bytes of directory. A lookup reads one directory slot, then scans the few
//! fingerprints of that bucket and compares the key bytes of equal fingerprints, so a
//! fingerprint collision can cost time but never a wrong answer.

use iocd_prefetch::{prefetch_at, vec_for_random_access};
use std::ops::Range;

/// A 64-bit hash of `key`: multiply-rotate over 8-byte words, then a full avalanche.
pub(crate) fn fingerprint(key: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = 0x243F_6A88_85A3_08D3 ^ (key.len() as u64);
    let (words, tail) = key.as_chunks::<8>();
    for word in words {
        hash = (hash ^ u64::from_le_bytes(*word))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(31);
    }
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        hash = (hash ^ u64::from_le_bytes(last))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(31);
    }
    // MurmurHash3's 64-bit finaliser spreads every input bit over the top bits we bucket on.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    hash ^ (hash >> 33)
}

/// A one-hash Bloom filter with 16 bits per key: small enough to stay in the processor's cache,
/// it answers most lookups of absent keys without touching the slots (a 6 % false-positive
/// rate just costs the normal lookup).
#[derive(Debug, Default, Clone)]
pub(crate) struct PresenceFilter {
    words: Vec<u64>,
    mask: u64,
}

impl PresenceFilter {
    pub(crate) fn new(keys: usize) -> PresenceFilter {
        let bits = (keys.max(1) * 16).next_power_of_two().max(64);
        let mut words = vec_for_random_access(bits / 64);
        words.resize(bits / 64, 0);
        PresenceFilter {
            words,
            mask: bits as u64 - 1,
        }
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let bit = hash & self.mask;
        self.words[(bit / 64) as usize] |= 1 << (bit % 64);
    }

    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let bit = hash & self.mask;
        self.words
            .get((bit / 64) as usize)
            .is_some_and(|word| word & (1 << (bit % 64)) != 0)
    }

    /// Asks for the word [`PresenceFilter::may_contain`] will read for `hash`.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_at(&self.words, ((hash & self.mask) / 64) as usize);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// The slot positions of directory bucket `bucket`, after asking for their first and last slot.
#[inline]
fn bucket_slots<T>(directory: &[u32], bucket: usize, slots: &[T]) -> Range<u32> {
    let range = directory[bucket]..directory[bucket + 1];
    prefetch_at(slots, range.start as usize);
    if range.len() > 1 {
        prefetch_at(slots, range.end as usize - 1);
    }
    range
}

/// One key's slot: its fingerprint, the entry it points at and where its bytes end, packed in
/// 16 bytes so one cache line holds a whole bucket of four.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    fingerprint: u64,
    entry: u32,
    key_end: u32,
}

/// The immutable key index. Several entries may share one key; they are adjacent.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyIndex {
    filter: PresenceFilter,
    slots: Vec<Slot>,
    key_bytes: Vec<u8>,
    /// `directory[b]` is the first slot whose fingerprint's top bits are `>= b`.
    directory: Vec<u32>,
    shift: u32,
}

/// Slots per directory bucket, on average.
const BUCKET_SLOTS: usize = 4;

impl KeyIndex {
    /// Builds the index from `(key, entry)` pairs, in any order.
    pub(crate) fn build(mut pairs: Vec<(Box<[u8]>, u32)>) -> KeyIndex {
        if pairs.is_empty() {
            return KeyIndex::default();
        }
        let mut keyed: Vec<(u64, Box<[u8]>, u32)> = pairs
            .drain(..)
            .map(|(key, entry)| (fingerprint(&key), key, entry))
            .collect();
        keyed.sort_unstable();
        let buckets = keyed.len().div_ceil(BUCKET_SLOTS).max(2);
        let bits = usize::BITS - (buckets - 1).leading_zeros();
        let shift = 64 - bits;
        let mut index = KeyIndex {
            filter: PresenceFilter::new(keyed.len()),
            slots: vec_for_random_access(keyed.len()),
            key_bytes: vec_for_random_access(keyed.iter().map(|(_, k, _)| k.len()).sum()),
            directory: vec_for_random_access((1usize << bits) + 1),
            shift,
        };
        for (position, (fingerprint, key, entry)) in keyed.into_iter().enumerate() {
            let bucket = (fingerprint >> shift) as usize;
            while index.directory.len() <= bucket {
                index.directory.push(position as u32);
            }
            index.filter.insert(fingerprint);
            index.key_bytes.extend_from_slice(&key);
            index.slots.push(Slot {
                fingerprint,
                entry,
                key_end: index.key_bytes.len() as u32,
            });
        }
        let total = index.slots.len() as u32;
        while index.directory.len() <= (1usize << bits) {
            index.directory.push(total);
        }
        index
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn key_at(&self, position: usize) -> &[u8] {
        let start = match position {
            0 => 0,
            _ => self.slots[position - 1].key_end as usize,
        };
        &self.key_bytes[start..self.slots[position].key_end as usize]
    }

    /// Calls `found` with every entry stored under exactly `key`: the stages below, one
    /// after the other.
    #[cfg(test)]
    pub(crate) fn find(&self, key: &[u8], mut found: impl FnMut(u32)) {
        let fingerprint = fingerprint(key);
        let bucket = self.bucket(fingerprint);
        self.same_fingerprint(fingerprint, bucket, |position, entry| {
            if self.key_is(position, key) {
                found(entry);
            }
        });
    }

    // A lookup runs in stages, each ending by asking the processor for the memory the next
    // stage reads, so a caller can run one stage for many lookups before the next and let
    // their cache misses overlap ([`crate::set`] does).

    /// Stage 1: asks for the filter word and directory entry of `fingerprint`.
    #[inline]
    pub(crate) fn prefetch_head(&self, fingerprint: u64) {
        if !self.slots.is_empty() {
            self.filter.prefetch(fingerprint);
            prefetch_at(&self.directory, (fingerprint >> self.shift) as usize);
        }
    }

    /// Stage 2: the slot positions that may hold `fingerprint`, empty when the filter rules
    /// it out; asks for those slots.
    #[inline]
    pub(crate) fn bucket(&self, fingerprint: u64) -> Range<u32> {
        if self.slots.is_empty() || !self.filter.may_contain(fingerprint) {
            return 0..0;
        }
        bucket_slots(
            &self.directory,
            (fingerprint >> self.shift) as usize,
            &self.slots,
        )
    }

    /// Stage 3: calls `found(position, entry)` for each slot of `bucket` with exactly
    /// `fingerprint`, after asking for its key bytes.
    #[inline]
    pub(crate) fn same_fingerprint(
        &self,
        fingerprint: u64,
        bucket: Range<u32>,
        mut found: impl FnMut(u32, u32),
    ) {
        for position in bucket {
            let slot = self.slots[position as usize];
            if slot.fingerprint > fingerprint {
                break;
            }
            if slot.fingerprint == fingerprint {
                let key_start = match position {
                    0 => 0,
                    _ => self.slots[position as usize - 1].key_end as usize,
                };
                prefetch_at(&self.key_bytes, key_start);
                found(position, slot.entry);
            }
        }
    }

    /// Stage 4: whether the slot at `position` holds exactly `key` (fingerprints can collide).
    #[inline]
    pub(crate) fn key_is(&self, position: u32, key: &[u8]) -> bool {
        self.key_at(position as usize) == key
    }

    /// Every `(key, entry)` pair, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        (0..self.len()).map(|position| (self.key_at(position), self.slots[position].entry))
    }

    /// Bytes of heap memory the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.filter.heap_bytes()
            + self.key_bytes.capacity()
            + self.directory.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: &[(&str, u32)]) -> KeyIndex {
        KeyIndex::build(
            keys.iter()
                .map(|(k, e)| (k.as_bytes().to_vec().into_boxed_slice(), *e))
                .collect(),
        )
    }

    fn find(index: &KeyIndex, key: &str) -> Vec<u32> {
        let mut found = Vec::new();
        index.find(key.as_bytes(), |e| found.push(e));
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_exact_keys_only() {
        let index = build(&[("a", 1), ("bb", 2), ("bb", 3), ("", 4), ("ccc", 5)]);
        assert_eq!(find(&index, "a"), [1]);
        assert_eq!(find(&index, "bb"), [2, 3]);
        assert_eq!(find(&index, ""), [4]);
        assert_eq!(find(&index, "b"), Vec::<u32>::new());
        assert_eq!(find(&index, "cc"), Vec::<u32>::new());
        assert_eq!(find(&KeyIndex::default(), "a"), Vec::<u32>::new());
    }

    #[test]
    fn many_keys_round_trip() {
        let keys: Vec<(String, u32)> = (0..5000u32).map(|i| (format!("key-{i}"), i)).collect();
        let index = KeyIndex::build(
            keys.iter()
                .map(|(k, e)| (k.as_bytes().to_vec().into_boxed_slice(), *e))
                .collect(),
        );
        for (key, entry) in &keys {
            assert_eq!(find(&index, key), [*entry]);
        }
        assert_eq!(find(&index, "key-5000"), Vec::<u32>::new());
        assert_eq!(index.iter().count(), 5000);
    }
}

/// An index of fixed-size keys that are already uniformly random (file hashes): keys sorted,
/// stored inline next to their entry number, with a directory on their leading bits, so a
/// lookup computes no hash and reads one directory word and one or two cache lines of slots.
#[derive(Debug, Clone)]
pub(crate) struct FixedIndex<const N: usize> {
    filter: PresenceFilter,
    slots: Vec<([u8; N], u32)>,
    directory: Vec<u32>,
    shift: u32,
}

impl<const N: usize> Default for FixedIndex<N> {
    fn default() -> Self {
        FixedIndex {
            filter: PresenceFilter::default(),
            slots: Vec::new(),
            directory: Vec::new(),
            shift: 63,
        }
    }
}

/// Bits 64..128 of a key (independent of the leading bits the directory uses), for the filter.
fn filter_bits(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    if let Some(rest) = key.get(8..) {
        let len = rest.len().min(8);
        word[..len].copy_from_slice(&rest[..len]);
    }
    u64::from_le_bytes(word)
}

/// The leading 64 bits of a key, big-endian (keys shorter than 8 bytes are zero-padded).
fn leading_bits(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let len = key.len().min(8);
    word[..len].copy_from_slice(&key[..len]);
    u64::from_be_bytes(word)
}

impl<const N: usize> FixedIndex<N> {
    /// Builds the index; every key must be exactly `N` bytes (others are ignored).
    pub(crate) fn build(pairs: Vec<(Box<[u8]>, u32)>) -> FixedIndex<N> {
        let mut slots: Vec<([u8; N], u32)> = vec_for_random_access(pairs.len());
        slots.extend(
            pairs
                .into_iter()
                .filter_map(|(key, entry)| <[u8; N]>::try_from(&key[..]).ok().map(|k| (k, entry))),
        );
        if slots.is_empty() {
            return FixedIndex::default();
        }
        slots.sort_unstable();
        let buckets = slots.len().div_ceil(BUCKET_SLOTS).max(2);
        let bits = usize::BITS - (buckets - 1).leading_zeros();
        let shift = 64 - bits;
        let mut directory = vec_for_random_access((1usize << bits) + 1);
        let mut filter = PresenceFilter::new(slots.len());
        for (position, (key, _)) in slots.iter().enumerate() {
            filter.insert(filter_bits(key));
            let bucket = (leading_bits(key) >> shift) as usize;
            while directory.len() <= bucket {
                directory.push(position as u32);
            }
        }
        while directory.len() <= (1usize << bits) {
            directory.push(slots.len() as u32);
        }
        FixedIndex {
            filter,
            slots,
            directory,
            shift,
        }
    }

    // The same stages as [`KeyIndex`]'s, with the key stored in the slot.

    /// Stage 1: asks for the filter word and directory entry of `key`.
    #[inline]
    pub(crate) fn prefetch_head(&self, key: &[u8; N]) {
        if !self.slots.is_empty() {
            self.filter.prefetch(filter_bits(key));
            prefetch_at(&self.directory, (leading_bits(key) >> self.shift) as usize);
        }
    }

    /// Stage 2: the slot positions that may hold `key`, empty when the filter rules it out;
    /// asks for those slots.
    #[inline]
    pub(crate) fn bucket(&self, key: &[u8; N]) -> Range<u32> {
        if self.slots.is_empty() || !self.filter.may_contain(filter_bits(key)) {
            return 0..0;
        }
        bucket_slots(
            &self.directory,
            (leading_bits(key) >> self.shift) as usize,
            &self.slots,
        )
    }

    /// Stage 3: calls `found` with every entry of `bucket` stored under exactly `key`.
    #[inline]
    pub(crate) fn matches(&self, key: &[u8; N], bucket: Range<u32>, mut found: impl FnMut(u32)) {
        let slots = self
            .slots
            .get(bucket.start as usize..bucket.end as usize)
            .unwrap_or_default();
        for (slot_key, entry) in slots {
            match slot_key.cmp(key) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => found(*entry),
                std::cmp::Ordering::Greater => break,
            }
        }
    }

    /// Every `(key, entry)` pair, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        self.slots.iter().map(|(key, entry)| (&key[..], *entry))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<([u8; N], u32)>()
            + self.filter.heap_bytes()
            + self.directory.capacity() * 4
    }
}
