//! The engine's immutable key indexes, built once and searched without allocation, both
//! ordered open-addressing tables: [`KeyIndex`] for byte-string keys (placed by a 64-bit
//! fingerprint, value and key bytes in a record beside the table) and [`HashTable`] for file
//! hashes (fixed-size keys and the value in the slot).
//!
//! A [`KeyIndex`] holds per key 2 bytes of filter, 1.5 slots of 8 bytes and one record: the
//! value, the key's length and the key bytes, not crossing a cache line if it fits in one. A
//! search reads a run of about three slots from the key's home (one cache line, or two a
//! quarter of the time), then the record of each slot whose tag (the fingerprint's high half)
//! is the key's, whose key bytes it compares, so a tag collision can cost time but never a
//! wrong answer.

use crate::fingerprint::{Direction, suffix_fingerprint};
use iocd_prefetch::{prefetch_at, prefetch_span, vec_for_random_access};

/// A Bloom filter with 16 bits per key, two of them set by each key in one cache line: small
/// enough to mostly stay in the processor's cache, it answers most lookups of absent keys
/// without touching the slots (a false-positive rate near 1.5 % just costs the normal lookup).
///
/// A filter hash picks the line with its middle bits and the two bits with its lowest and
/// highest nine. Keys placed with [`in_block`] under one block share one line: a lookup of
/// many related keys (every path prefix of one URL) reads one line of the filter, not one per
/// key.
#[derive(Debug, Default, Clone)]
pub(crate) struct PresenceFilter {
    lines: Vec<FilterLine>,
}

/// One cache line of filter bits.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct FilterLine([u64; 8]);

impl FilterLine {
    /// The two bits a filter hash sets in its line, as (word, mask) pairs: its lowest and
    /// highest nine bits.
    #[inline]
    fn bits(hash: u64) -> [(usize, u64); 2] {
        let bit = |position: u64| ((position / 64) as usize, 1u64 << (position % 64));
        [bit(hash & BIT_IN_LINE), bit(hash >> 55)]
    }

    /// Whether this line, the one of `hash`'s block, has both of `hash`'s bits set: the
    /// filter's answer for a key placed with [`in_block`] under that block (only the bits
    /// outside the line field matter, so the key's own fingerprint will do).
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let [(word_a, mask_a), (word_b, mask_b)] = FilterLine::bits(hash);
        self.0[word_a] & mask_a != 0 && self.0[word_b] & mask_b != 0
    }
}

/// Bits in one [`FilterLine`], and the mask of a bit's position in it.
const LINE_BITS: u64 = 512;
const BIT_IN_LINE: u64 = LINE_BITS - 1;

/// The bits of a filter hash that pick its line.
const LINE_FIELD: u64 = ((1 << 55) - 1) & !BIT_IN_LINE;

/// The filter hash of a key whose fingerprint is `key` that puts its bits in the filter line
/// chosen by `block` (the fingerprint of something keys have in common, such as a URL's host):
/// the line from `block`, the bits within it from `key`.
#[inline]
pub(crate) fn in_block(block: u64, key: u64) -> u64 {
    (block & LINE_FIELD) | (key & !LINE_FIELD)
}

impl PresenceFilter {
    pub(crate) fn new(keys: usize) -> PresenceFilter {
        let bits = (keys.max(1) as u64 * 16).next_power_of_two().max(LINE_BITS);
        let line_count = (bits / LINE_BITS) as usize;
        let mut lines = vec_for_random_access(line_count);
        lines.resize(line_count, FilterLine::default());
        PresenceFilter { lines }
    }

    /// The line of `hash`, and its two bits as (word, mask) pairs.
    #[inline]
    fn place(&self, hash: u64) -> (usize, [(usize, u64); 2]) {
        let line = ((hash & LINE_FIELD) >> 9) as usize & self.lines.len().wrapping_sub(1);
        (line, FilterLine::bits(hash))
    }

    /// The line keys placed under the block whose fingerprint is `block` keep their bits in
    /// (`None` for an empty filter).
    #[inline]
    pub(crate) fn line(&self, block: u64) -> Option<&FilterLine> {
        self.lines.get(self.place(block).0)
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let (line, bits) = self.place(hash);
        for (word, mask) in bits {
            self.lines[line].0[word] |= mask;
        }
    }

    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        self.line(hash).is_some_and(|line| line.may_contain(hash))
    }

    /// Asks for the line [`PresenceFilter::may_contain`] will read for `hash`.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        prefetch_at(&self.lines, self.place(hash).0);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<FilterLine>()
    }
}

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

    #[test]
    fn filter_false_positives_are_rare() {
        let mut filter = PresenceFilter::new(100_000);
        for n in 0..100_000u64 {
            filter.insert(fingerprint(&n.to_le_bytes()));
        }
        for n in 0..100_000u64 {
            assert!(filter.may_contain(fingerprint(&n.to_le_bytes())));
        }
        let false_positives = (100_000..200_000u64)
            .filter(|n| filter.may_contain(fingerprint(&n.to_le_bytes())))
            .count();
        // About 1.5 % with two bits of sixteen per key (at most 16; the power of two rounds up).
        assert!(false_positives < 2_500, "{false_positives} of 100000");
    }

    #[test]
    fn keys_of_one_block_share_a_filter_line() {
        let filter = PresenceFilter::new(100_000);
        let line_of = |key: &str| {
            let hash = in_block(
                fingerprint(before_slash(key.as_bytes())),
                fingerprint(key.as_bytes()),
            );
            filter.place(hash).0
        };
        let line = line_of("example.com/a");
        for key in ["example.com/a/b", "example.com/c?d", "example.com"] {
            assert_eq!(line_of(key), line, "{key}");
        }
        // Other blocks spread over the lines.
        let others: std::collections::HashSet<usize> =
            (0..100).map(|i| line_of(&format!("host-{i}/a"))).collect();
        assert!(others.len() > 90, "{} lines for 100 blocks", others.len());
    }
}

/// An ordered open-addressing table of fixed-size keys that are already uniformly random
/// (file hashes), each stored with its value in one slot, so that a lookup computes no hash
/// and reads one run of adjacent slots: no directory, no filter, no second table.
///
/// Keys are ordered by a cheap hash of their first 16 bytes (then by the bytes), and a key's
/// home slot is that hash scaled to the table's capacity, so homes grow with the order. Keys
/// are placed in order, each at its home or, if that is taken, just after the previous key;
/// the slots from a key's home to the key are then all taken by keys ordered before it, and
/// a search from the home can stop at the first empty slot or later key. With a load of 2/3 a
/// search reads two slots on average, and it stops at the key itself unless the table holds
/// some key more than once. The hash matters even though file hashes look random:
/// a set of them need not be spread evenly (a prefix of a sorted list is not), and uneven
/// homes would pile keys up into long runs.
///
/// Most hashes a device reports match nothing, so a [`PresenceFilter`] on the same hash
/// answers most searches for absent keys before any slot is read.
#[derive(Debug, Clone)]
pub(crate) struct HashTable<const N: usize, V> {
    filter: PresenceFilter,
    /// Ends with at least one empty slot, so every run ends inside the vector.
    slots: Vec<Option<([u8; N], V)>>,
    /// Homes lie in `0..capacity`; the slots after them hold keys pushed past the end.
    capacity: u64,
    len: usize,
    /// Whether some key has several values (in adjacent slots): only then must a search go
    /// on past a hit.
    repeats_keys: bool,
}

impl<const N: usize, V> Default for HashTable<N, V> {
    fn default() -> Self {
        HashTable {
            filter: PresenceFilter::default(),
            slots: Vec::new(),
            capacity: 0,
            len: 0,
            repeats_keys: false,
        }
    }
}

/// The order and placement hash of a [`HashTable`] key: its first 16 bytes (zero-padded)
/// mixed. Searches take it as an argument, so a caller computes it once per key.
#[inline]
pub(crate) fn spread(key: &[u8]) -> u64 {
    let mut words = [0u8; 16];
    let len = key.len().min(16);
    words[..len].copy_from_slice(&key[..len]);
    let [low, high] = [&words[..8], &words[8..]].map(|w| {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        u64::from_le_bytes(word)
    });
    let mut hash = low ^ high.rotate_left(29).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    hash ^= hash >> 32;
    hash = hash.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    hash ^ (hash >> 32)
}

/// The order of keys in a [`HashTable`].
#[inline]
fn table_order<const N: usize>(a: &[u8; N], b: &[u8; N]) -> std::cmp::Ordering {
    spread(a).cmp(&spread(b)).then_with(|| a.cmp(b))
}

/// Slots a search of a [`HashTable`] reads on average, for the prefetch.
const RUN_SLOTS: usize = 2;

/// Slots of a [`KeyIndex`] a search asks for: a search at 10,000,000 indicators reads about
/// 2.8 on average, counting the slot that ends it (temporary counters, session 7), and
/// asking for two or four did no better (docs/benchmarks.md).
const KEY_RUN_SLOTS: usize = 3;

/// The capacity (the range of homes) of an ordered open-addressing table of `len` keys: a
/// load of 2/3.
fn table_capacity(len: usize) -> u64 {
    (len as u64 * 3).div_ceil(2)
}

/// The home slot, in `0..capacity`, of a key whose uniformly spread 64-bit hash is `hash`.
#[inline]
fn home_slot(hash: u64, capacity: u64) -> usize {
    ((u128::from(hash) * u128::from(capacity)) >> 64) as usize
}

/// Lays out the slots of an ordered open-addressing table from `(home, slot)` pairs given in
/// table order: each slot at its home, or just after the previous one if that is taken, with
/// `empty` in the gaps and once more at the end, so every run ends inside the vector.
fn place_in_order<S: Clone>(
    capacity: u64,
    homed: impl Iterator<Item = (usize, S)>,
    empty: S,
) -> Vec<S> {
    // Keys pushed past the end need room: a few more slots than the capacity is plenty for
    // random hashes, and the vector grows if not.
    let mut slots = vec_for_random_access(capacity as usize + 64);
    for (home, slot) in homed {
        if slots.len() < home {
            slots.resize(home, empty.clone());
        }
        slots.push(slot);
    }
    slots.push(empty);
    slots
}

impl<const N: usize, V: Copy> HashTable<N, V> {
    /// Builds the table from `(key, value)` pairs, in any order; equal keys keep all values.
    pub(crate) fn build(mut pairs: Vec<([u8; N], V)>) -> HashTable<N, V> {
        if pairs.is_empty() {
            return HashTable::default();
        }
        pairs.sort_unstable_by(|a, b| table_order(&a.0, &b.0));
        let capacity = table_capacity(pairs.len());
        let mut filter = PresenceFilter::new(pairs.len());
        let len = pairs.len();
        let repeats_keys = pairs.windows(2).any(|pair| pair[0].0 == pair[1].0);
        let homed = pairs.into_iter().map(|(key, value)| {
            filter.insert(spread(&key));
            (home_slot(spread(&key), capacity), Some((key, value)))
        });
        let slots = place_in_order(capacity, homed, None);
        HashTable {
            filter,
            slots,
            capacity,
            len,
            repeats_keys,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The home slot of a key whose [`spread`] is `spread`.
    #[inline]
    fn home(&self, spread: u64) -> usize {
        home_slot(spread, self.capacity)
    }

    // A search runs in the stages of [`KeyIndex`]'s, fewer of them.

    /// Stage 1: asks for the filter word of a key whose [`spread`] is `spread`.
    #[inline]
    pub(crate) fn prefetch_head(&self, spread: u64) {
        self.filter.prefetch(spread);
    }

    /// Stage 2: whether a key whose [`spread`] is `spread` may be present; if so, asks for the
    /// slots a search for it will most likely read.
    #[inline]
    pub(crate) fn may_contain(&self, spread: u64) -> bool {
        if self.len == 0 || !self.filter.may_contain(spread) {
            return false;
        }
        let home = self.home(spread);
        prefetch_span(&self.slots, home..home + RUN_SLOTS);
        true
    }

    /// Stage 3: calls `found` with the value of every slot holding exactly `key`, whose
    /// [`spread`] is `spread`.
    #[inline]
    pub(crate) fn find(&self, key: &[u8; N], spread: u64, mut found: impl FnMut(V)) {
        let Some(run) = self.slots.get(self.home(spread)..) else {
            return;
        };
        for slot in run {
            let Some((slot_key, value)) = slot else {
                break;
            };
            if slot_key == key {
                found(*value);
                if self.repeats_keys {
                    continue;
                }
                break;
            }
            // Past a key ordered after this one, nothing can equal it.
            let slot_spread = self::spread(slot_key);
            if slot_spread > spread || (slot_spread == spread && slot_key > key) {
                break;
            }
        }
    }

    /// Every `(key, value)` pair, in table order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8; N], V)> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|(key, value)| (key, *value))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<([u8; N], V)>>()
            + self.filter.heap_bytes()
    }
}

#[cfg(test)]
mod hash_table_tests {
    use super::*;

    fn key(n: u64, tail: u8) -> [u8; 16] {
        let mut key = [tail; 16];
        key[..8].copy_from_slice(&n.to_be_bytes());
        key
    }

    fn find(table: &HashTable<16, u32>, key: &[u8; 16]) -> Vec<u32> {
        let mut found = Vec::new();
        let spread = spread(key);
        table.prefetch_head(spread);
        if table.may_contain(spread) {
            table.find(key, spread, |value| found.push(value));
        }
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_exact_keys_only() {
        let pairs = vec![
            (key(u64::MAX, 1), 1),
            (key(u64::MAX, 2), 2),
            (key(u64::MAX, 2), 3),
            (key(0, 0), 4),
            (key(1 << 63, 9), 5),
        ];
        let table = HashTable::build(pairs);
        assert_eq!(table.len(), 5);
        assert_eq!(find(&table, &key(u64::MAX, 1)), [1]);
        assert_eq!(find(&table, &key(u64::MAX, 2)), [2, 3]);
        assert_eq!(find(&table, &key(0, 0)), [4]);
        assert_eq!(find(&table, &key(1 << 63, 9)), [5]);
        for absent in [
            key(u64::MAX, 3),
            key(u64::MAX, 0),
            key(0, 1),
            key(1 << 62, 0),
        ] {
            assert_eq!(find(&table, &absent), Vec::<u32>::new());
        }
        assert_eq!(find(&HashTable::default(), &key(0, 0)), Vec::<u32>::new());
        assert_eq!(table.iter().count(), 5);
    }

    #[test]
    fn random_and_crowded_keys_round_trip() {
        // Random keys, and keys whose leading bits are all alike (every home the same slot).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let spread: Vec<([u8; 16], u32)> = (0..5000).map(|n| (key(random(), n as u8), n)).collect();
        // The 5000 smallest of 20000 random keys: their leading bits cover a quarter of the
        // range, as the first hashes of a sorted list do.
        let mut sorted: Vec<([u8; 16], u32)> =
            (0..20000).map(|n| (key(random(), n as u8), n)).collect();
        sorted.sort_unstable();
        sorted.truncate(5000);
        for pairs in [spread, sorted] {
            let table = HashTable::build(pairs.clone());
            for (k, value) in &pairs {
                assert_eq!(find(&table, k), [*value]);
                let mut absent = *k;
                absent[15] ^= 0x80;
                if !pairs.iter().any(|(other, _)| *other == absent) {
                    assert_eq!(find(&table, &absent), Vec::<u32>::new());
                }
            }
            let mut keys: Vec<[u8; 16]> = table.iter().map(|(k, _)| *k).collect();
            assert!(keys.is_sorted_by(|a, b| table_order(a, b).is_le()));
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), pairs.len());
            // Uneven keys still spread evenly: searches stay short.
            let slots_read: usize = pairs
                .iter()
                .map(|(k, _)| {
                    let home = table.home(super::spread(k));
                    let at = table
                        .slots
                        .iter()
                        .position(|s| s.is_some_and(|(x, _)| x == *k));
                    at.map_or(usize::MAX, |at| at + 1 - home)
                })
                .sum();
            let average = slots_read as f64 / pairs.len() as f64;
            assert!(average < 5.0, "{average} slots read on average");
        }
    }

    #[test]
    fn keys_alike_in_their_first_sixteen_bytes_are_still_found() {
        // All share one home; the table degrades to a scan but stays exact.
        let pairs: Vec<([u8; 20], u32)> = (0..300u32)
            .map(|n| {
                let mut k = [7u8; 20];
                k[16..].copy_from_slice(&n.to_be_bytes());
                (k, n)
            })
            .collect();
        let table = HashTable::build(pairs.clone());
        for (k, value) in &pairs {
            let mut found = Vec::new();
            table.find(k, spread(k), |v| found.push(v));
            assert_eq!(found, [*value]);
        }
        let mut found = Vec::new();
        let absent = [7u8; 20].map(|b| b ^ 1);
        table.find(&absent, spread(&absent), |v| found.push(v));
        assert!(found.is_empty());
    }
}
