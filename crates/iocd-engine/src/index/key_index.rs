//! The index of byte-string keys (URL match keys, domains, IP networks, certificate
//! thumbprints).
//!
//! A [`KeyIndex`] holds per key 2 bytes of filter, 1.5 slots of 8 bytes and one record: the
//! value, the key's length and the key bytes, not crossing a cache line if it fits in one. A
//! search reads a run of about three slots from the key's home (one cache line, or two a
//! quarter of the time), then the record of each slot whose tag (the fingerprint's high half)
//! is the key's, whose key bytes it compares, so a tag collision can cost time but never a
//! wrong answer.

use super::filter::{FilterLine, PresenceFilter, in_block};
use super::table::{home_slot, place_in_order, table_capacity};
use crate::fingerprint::{Direction, suffix_fingerprint};
use iocd_prefetch::{prefetch_span, vec_for_random_access};

/// One key's slot in a [`KeyIndex`]: its tag and where its record is, so eight slots share a
/// cache line and a hit reads its run of slots, then its record, nothing else.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(8))]
struct KeySlot {
    /// The high half of the key's fingerprint (see [`tag_of`]).
    tag: u32,
    /// Where the record starts in [`KeyIndex::records`], in [`RECORD_ALIGN`]-byte units;
    /// [`EMPTY`] for a slot without a key.
    record: u32,
}

impl KeySlot {
    /// Where the slot's record starts in [`KeyIndex::records`], in bytes.
    #[inline]
    fn record_start(&self) -> usize {
        self.record as usize * RECORD_ALIGN
    }
}

/// The tag a [`KeySlot`] keeps of a fingerprint: its high half. Homes grow with fingerprints
/// ([`home_slot`] takes their high bits), so slots in table order have tags in order too, and
/// a search can stop at the first greater one.
#[inline]
fn tag_of(fingerprint: u64) -> u32 {
    (fingerprint >> 32) as u32
}

/// Bytes of a record before the key: the value, then the key's length (`u32`, little-endian).
#[inline]
const fn key_offset<V: RecordValue>() -> usize {
    V::LEN + 4
}

/// The `record` of an empty [`KeySlot`].
const EMPTY: u32 = u32::MAX;

/// Records start at multiples of this many bytes, so a `u32` reaches 32 GiB of them.
const RECORD_ALIGN: usize = 8;

/// A cache line's bytes (a [`FilterLine`] is one).
const LINE: usize = std::mem::size_of::<FilterLine>();

/// A value a [`KeyIndex`] keeps in its records, beside the key bytes: written as a fixed
/// number of bytes and read back from them.
pub(crate) trait RecordValue: Copy {
    /// The bytes [`RecordValue::write`] appends.
    const LEN: usize;
    fn write(&self, out: &mut Vec<u8>);
    /// Reads a value from the first [`RecordValue::LEN`] bytes of `bytes`, which
    /// [`RecordValue::write`] wrote.
    fn read(bytes: &[u8]) -> Self;
}

/// The `N` bytes of `bytes` from `at`, or zeros if there are fewer (never, for a record).
#[inline]
pub(crate) fn record_bytes<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}

/// Cuts from a key the part its filter bit is placed by (see [`KeyHashing::block`]).
pub(crate) type BlockOf = fn(&[u8]) -> &[u8];

/// How a [`KeyIndex`] fingerprints its keys and places their filter bits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyHashing {
    pub(crate) direction: Direction,
    /// `None` puts a key's filter bit at its fingerprint; `Some(block_of)` puts it in the line
    /// of the block `block_of` cuts from the key (see [`in_block`]), so that keys a lookup
    /// asks for together share a line. Blocks are fingerprinted backward, as domains are, so
    /// a URL's keys can be placed by a domain of their host and share its line.
    pub(crate) block: Option<BlockOf>,
}

impl KeyHashing {
    /// Where a filter keeps the bits of `key`, whose fingerprint is `fingerprint`. Lookups
    /// that know the block's fingerprint already compute the same with [`in_block`].
    pub(crate) fn filter_hash(&self, key: &[u8], fingerprint: u64) -> u64 {
        match self.block {
            None => fingerprint,
            Some(block_of) => in_block(suffix_fingerprint(block_of(key)), fingerprint),
        }
    }
}

/// The immutable index of byte-string keys: an ordered open-addressing table on the keys'
/// 64-bit fingerprints (placed like a [`HashTable`]'s keys, by fingerprint then bytes) whose
/// slots point to records beside the table, each the value followed by the key bytes.
/// Several values may share one key; they are adjacent.
#[derive(Debug, Clone)]
pub(crate) struct KeyIndex<V> {
    filter: PresenceFilter,
    /// Ends with at least one empty slot, so every run ends inside the vector.
    slots: Vec<KeySlot>,
    /// Per key, in slot order: `V::LEN` bytes of value, the key's length as a little-endian
    /// `u32`, then the key bytes; each record starts at a multiple of [`RECORD_ALIGN`], and one
    /// no longer than a cache line within one.
    records: Vec<u8>,
    /// Homes lie in `0..capacity`.
    capacity: u64,
    len: usize,
    value: std::marker::PhantomData<V>,
}

impl<V> Default for KeyIndex<V> {
    fn default() -> Self {
        KeyIndex {
            filter: PresenceFilter::default(),
            slots: Vec::new(),
            records: Vec::new(),
            capacity: 0,
            len: 0,
            value: std::marker::PhantomData,
        }
    }
}

impl<V: RecordValue> KeyIndex<V> {
    /// Builds the index from `(key, value)` pairs, in any order, fingerprinted and filtered
    /// as `hashing` says.
    pub(crate) fn build(pairs: Vec<(Box<[u8]>, V)>, hashing: KeyHashing) -> KeyIndex<V> {
        if pairs.is_empty() {
            return KeyIndex::default();
        }
        let mut filter = PresenceFilter::new(pairs.len());
        let mut index = KeyIndex::build_into(pairs, hashing, &mut filter);
        index.filter = filter;
        index
    }

    /// Builds the index as [`KeyIndex::build`] does, but sets its keys' filter bits in
    /// `filter`, which other indexes may share (the index's own filter stays empty, so its
    /// users ask `filter` instead).
    pub(crate) fn build_into(
        pairs: Vec<(Box<[u8]>, V)>,
        hashing: KeyHashing,
        filter: &mut PresenceFilter,
    ) -> KeyIndex<V> {
        if pairs.is_empty() {
            return KeyIndex::default();
        }
        let mut keyed: Vec<(u64, Box<[u8]>, V)> = pairs
            .into_iter()
            .map(|(key, value)| (hashing.direction.fingerprint(&key), key, value))
            .collect();
        keyed.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let capacity = table_capacity(keyed.len());
        let len = keyed.len();
        let record_len =
            |key: &[u8]| (key_offset::<V>() + key.len()).next_multiple_of(RECORD_ALIGN);
        // A record that fits in a cache line starts where it does not cross one (the large
        // vectors this matters for start on a line: the allocator aligns them to pages).
        let record_start = |offset: usize, len: usize| {
            if len <= LINE && offset % LINE + len > LINE {
                offset.next_multiple_of(LINE)
            } else {
                offset
            }
        };
        let total = keyed.iter().fold(0, |offset, (_, key, _)| {
            let len = record_len(key);
            record_start(offset, len) + len
        });
        let mut records = vec_for_random_access(total);
        let homed = keyed.into_iter().map(|(fingerprint, key, value)| {
            filter.insert(hashing.filter_hash(&key, fingerprint));
            records.resize(record_start(records.len(), record_len(&key)), 0);
            let record = records.len() / RECORD_ALIGN;
            let slot = KeySlot {
                tag: tag_of(fingerprint),
                // Past 32 GiB of records (some 500 million keys) the index would be wrong.
                record: u32::try_from(record)
                    .ok()
                    .filter(|&record| record != EMPTY)
                    .expect("records of one index exceed 32 GiB"),
            };
            value.write(&mut records);
            // Keys are parts of indicator values, far shorter than 4 GiB.
            let key_len = u32::try_from(key.len()).expect("a key of 4 GiB");
            records.extend_from_slice(&key_len.to_le_bytes());
            records.extend_from_slice(&key);
            records.resize(records.len().next_multiple_of(RECORD_ALIGN), 0);
            (home_slot(fingerprint, capacity), slot)
        });
        let empty = KeySlot {
            record: EMPTY,
            ..KeySlot::default()
        };
        let slots = place_in_order(capacity, homed, empty);
        KeyIndex {
            filter: PresenceFilter::default(),
            slots,
            records,
            capacity,
            len,
            value: std::marker::PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The home slot of a key whose fingerprint is `fingerprint`.
    #[inline]
    fn home(&self, fingerprint: u64) -> usize {
        home_slot(fingerprint, self.capacity)
    }

    /// Where the record of the slot at `position` starts in `records`.
    #[inline]
    fn record_at(&self, position: usize) -> usize {
        self.slots[position].record_start()
    }

    #[inline]
    fn key_at(&self, position: usize) -> &[u8] {
        let start = self.record_at(position);
        let key_len = u32::from_le_bytes(record_bytes(&self.records, start + V::LEN)) as usize;
        let key_start = start + key_offset::<V>();
        self.records
            .get(key_start..key_start + key_len)
            .unwrap_or_default()
    }

    /// Calls `found` with every value stored under exactly `key`, in an index built with
    /// `hashing`: the stages below, one after the other.
    #[cfg(test)]
    pub(crate) fn find(&self, hashing: &KeyHashing, key: &[u8], mut found: impl FnMut(V)) {
        let fingerprint = hashing.direction.fingerprint(key);
        if !self.may_contain(hashing.filter_hash(key, fingerprint)) {
            return;
        }
        self.prefetch_run(fingerprint);
        self.same_tag(fingerprint, key.len(), |position| {
            if self.key_is(position, key) {
                found(self.value(position));
            }
        });
    }

    // A lookup runs in stages, each ending by asking the processor for the memory the next
    // stage reads, so a caller can run one stage for many lookups before the next and let
    // their cache misses overlap ([`crate::set`] does).

    /// Stage 1, when the filter is asked in the stages: asks for the filter line of a key
    /// whose [`KeyHashing::filter_hash`] is `filter_hash`.
    #[inline]
    pub(crate) fn prefetch_filter(&self, filter_hash: u64) {
        self.filter.prefetch(filter_hash);
    }

    /// Whether a key whose [`KeyHashing::filter_hash`] is `filter_hash` may be in the index
    /// (if not, it is not). The stages below are for keys that passed.
    #[inline]
    pub(crate) fn may_contain(&self, filter_hash: u64) -> bool {
        self.len > 0 && self.filter.may_contain(filter_hash)
    }

    /// Stage 2: asks for the slots a search for `fingerprint` will most likely read.
    #[inline]
    pub(crate) fn prefetch_run(&self, fingerprint: u64) {
        if self.len > 0 {
            let home = self.home(fingerprint);
            prefetch_span(&self.slots, home..home + KEY_RUN_SLOTS);
        }
    }

    /// Stage 3: calls `found(position)` for each slot with the tag of `fingerprint`, after
    /// asking for its record as far as a key of `key_len` bytes would reach.
    #[inline]
    pub(crate) fn same_tag(&self, fingerprint: u64, key_len: usize, mut found: impl FnMut(u32)) {
        if self.len == 0 {
            return;
        }
        let tag = tag_of(fingerprint);
        let home = self.home(fingerprint);
        for (position, slot) in self.slots.iter().enumerate().skip(home) {
            // Past an empty slot or a later tag, no slot holds this key.
            if slot.record == EMPTY || slot.tag > tag {
                break;
            }
            if slot.tag == tag {
                let start = slot.record_start();
                prefetch_span(&self.records, start..start + key_offset::<V>() + key_len);
                found(position as u32);
            }
        }
    }

    /// Stage 4: whether the slot at `position` holds exactly `key` (tags can collide).
    #[inline]
    pub(crate) fn key_is(&self, position: u32, key: &[u8]) -> bool {
        self.key_at(position as usize) == key
    }

    /// The value in the record of the slot at `position`.
    #[inline]
    pub(crate) fn value(&self, position: u32) -> V {
        let start = self.record_at(position as usize);
        V::read(self.records.get(start..).unwrap_or_default())
    }

    /// Every `(key, value)` pair, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], V)> + '_ {
        (0..self.slots.len())
            .filter(|&position| self.slots[position].record != EMPTY)
            .map(|position| (self.key_at(position), self.value(position as u32)))
    }

    /// Bytes of heap memory the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<KeySlot>()
            + self.filter.heap_bytes()
            + self.records.capacity()
    }
}

/// Slots of a [`KeyIndex`] a search asks for: a search at 10,000,000 indicators reads about
/// 2.8 on average, counting the slot that ends it (temporary counters, session 7), and
/// asking for two or four did no better (docs/benchmarks.md).
const KEY_RUN_SLOTS: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::fingerprint;

    impl RecordValue for u32 {
        const LEN: usize = 4;
        fn write(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
        fn read(bytes: &[u8]) -> u32 {
            u32::from_le_bytes(record_bytes(bytes, 0))
        }
    }

    fn build(keys: &[(&str, u32)]) -> KeyIndex<u32> {
        KeyIndex::build(
            keys.iter()
                .map(|(k, e)| (k.as_bytes().to_vec().into_boxed_slice(), *e))
                .collect(),
            KeyHashing::default(),
        )
    }

    /// The part of a test key before its first `/`.
    fn before_slash(key: &[u8]) -> &[u8] {
        let end = key.iter().position(|&b| b == b'/').unwrap_or(key.len());
        &key[..end]
    }

    fn find_with(index: &KeyIndex<u32>, hashing: &KeyHashing, key: &str) -> Vec<u32> {
        let mut found = Vec::new();
        index.find(hashing, key.as_bytes(), |e| found.push(e));
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_exact_keys_only() {
        let index = build(&[("a", 1), ("bb", 2), ("bb", 3), ("", 4), ("ccc", 5)]);
        let find = |index, key| find_with(index, &KeyHashing::default(), key);
        assert_eq!(find(&index, "a"), [1]);
        assert_eq!(find(&index, "bb"), [2, 3]);
        assert_eq!(find(&index, ""), [4]);
        assert_eq!(find(&index, "b"), Vec::<u32>::new());
        assert_eq!(find(&index, "cc"), Vec::<u32>::new());
        assert_eq!(find(&KeyIndex::default(), "a"), Vec::<u32>::new());
    }

    #[test]
    fn many_keys_round_trip_with_either_placement() {
        // Keys in blocks of up to 40 (`host-N/...`), more than one filter line's share.
        let keys: Vec<(String, u32)> = (0..5000u32)
            .map(|i| (format!("host-{}/key-{i}", i / 40), i))
            .collect();
        let by_key = KeyHashing::default();
        let by_block = |direction| KeyHashing {
            direction,
            block: Some(before_slash as BlockOf),
        };
        for hashing in [
            by_key,
            by_block(Direction::Forward),
            by_block(Direction::Backward),
        ] {
            let index = KeyIndex::build(
                keys.iter()
                    .map(|(k, e)| (k.as_bytes().to_vec().into_boxed_slice(), *e))
                    .collect(),
                hashing,
            );
            for (key, entry) in &keys {
                assert_eq!(find_with(&index, &hashing, key), [*entry]);
            }
            assert_eq!(
                find_with(&index, &hashing, "host-0/key-5000"),
                Vec::<u32>::new()
            );
            assert_eq!(index.iter().count(), 5000);
        }
    }

    #[test]
    fn keys_sharing_a_tag_are_told_apart_by_their_bytes() {
        // Two keys whose fingerprints share their high half (found by trying keys in turn:
        // about 2^16 of them make such a pair likely) sit in one run with equal tags.
        let mut seen = std::collections::HashMap::new();
        let (first, second) = (0u32..)
            .map(|n| format!("key-{n}"))
            .find_map(|key| {
                let tag = tag_of(fingerprint(key.as_bytes()));
                seen.insert(tag, key.clone()).map(|other| (other, key))
            })
            .expect("some pair of keys shares a tag");
        let index = build(&[(&first, 1), (&second, 2), ("other", 3)]);
        let find = |key: &str| find_with(&index, &KeyHashing::default(), key);
        assert_eq!(find(&first), [1]);
        assert_eq!(find(&second), [2]);
        assert_eq!(find("other"), [3]);
    }
}
