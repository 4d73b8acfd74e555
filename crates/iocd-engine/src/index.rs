//! The engine's immutable key indexes, built once and searched without allocation:
//! [`KeyIndex`] (byte-string keys sorted by a 64-bit fingerprint, with a directory on its top
//! bits) and [`HashTable`] (file hashes in an ordered open-addressing table, value in the slot).
//!
//! For a [`KeyIndex`], memory per key is the key bytes plus a 16-byte slot (fingerprint, entry number, key end)
//! plus one to two bytes of directory. A lookup reads one directory slot, then scans the few
//! fingerprints of that bucket and compares the key bytes of equal fingerprints, so a
//! fingerprint collision can cost time but never a wrong answer.

use crate::fingerprint::Direction;
use iocd_prefetch::{prefetch_at, prefetch_span, vec_for_random_access};
use std::ops::Range;

/// A one-hash Bloom filter with 16 bits per key: small enough to stay in the processor's cache,
/// it answers most lookups of absent keys without touching the slots (a 6 % false-positive
/// rate just costs the normal lookup).
///
/// The bits lie in cache-line-aligned lines of 512, and a key's bit is `hash`'s low bits, so
/// keys placed with [`in_block`] under one block share one line: a lookup of many related
/// keys (every path prefix of one URL) reads one line of the filter, not one per key.
#[derive(Debug, Default, Clone)]
pub(crate) struct PresenceFilter {
    lines: Vec<FilterLine>,
    mask: u64,
}

/// One cache line of filter bits.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(64))]
struct FilterLine([u64; 8]);

/// Bits in one [`FilterLine`].
const LINE_BITS: u64 = 512;

/// The filter hash of a key whose fingerprint is `key` that puts its bit in the filter line
/// chosen by `block` (the fingerprint of something keys have in common, such as a URL's host):
/// the line from `block`'s bits above the line, the bit within it from `key`'s.
#[inline]
pub(crate) fn in_block(block: u64, key: u64) -> u64 {
    (block & !(LINE_BITS - 1)) | (key & (LINE_BITS - 1))
}

impl PresenceFilter {
    pub(crate) fn new(keys: usize) -> PresenceFilter {
        let bits = (keys.max(1) as u64 * 16).next_power_of_two().max(LINE_BITS);
        let line_count = (bits / LINE_BITS) as usize;
        let mut lines = vec_for_random_access(line_count);
        lines.resize(line_count, FilterLine::default());
        PresenceFilter {
            lines,
            mask: bits - 1,
        }
    }

    /// The line, word within it, and bit within that of `hash`.
    #[inline]
    fn place(&self, hash: u64) -> (usize, usize, u64) {
        let bit = hash & self.mask;
        (
            (bit / LINE_BITS) as usize,
            ((bit % LINE_BITS) / 64) as usize,
            1 << (bit % 64),
        )
    }

    pub(crate) fn insert(&mut self, hash: u64) {
        let (line, word, bit) = self.place(hash);
        self.lines[line].0[word] |= bit;
    }

    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let (line, word, bit) = self.place(hash);
        self.lines
            .get(line)
            .is_some_and(|line| line.0[word] & bit != 0)
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

/// Cuts from a key the part its filter bit is placed by (see [`KeyHashing::block`]).
pub(crate) type BlockOf = fn(&[u8]) -> &[u8];

/// How a [`KeyIndex`] fingerprints its keys and places their filter bits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyHashing {
    pub(crate) direction: Direction,
    /// `None` puts a key's filter bit at its fingerprint; `Some(block_of)` puts it in the line
    /// of the block `block_of` cuts from the key (see [`in_block`]), so that keys a lookup
    /// asks for together share a line.
    pub(crate) block: Option<BlockOf>,
}

/// The immutable key index. Several entries may share one key; they are adjacent.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyIndex {
    filter: PresenceFilter,
    hashing: KeyHashing,
    slots: Vec<Slot>,
    key_bytes: Vec<u8>,
    /// `directory[b]` is the first slot whose fingerprint's top bits are `>= b`.
    directory: Vec<u32>,
    shift: u32,
}

/// Slots per directory bucket, on average.
const BUCKET_SLOTS: usize = 4;

impl KeyIndex {
    /// Builds the index from `(key, entry)` pairs, in any order, fingerprinted and filtered
    /// as `hashing` says.
    pub(crate) fn build(mut pairs: Vec<(Box<[u8]>, u32)>, hashing: KeyHashing) -> KeyIndex {
        if pairs.is_empty() {
            return KeyIndex::default();
        }
        let mut keyed: Vec<(u64, Box<[u8]>, u32)> = pairs
            .drain(..)
            .map(|(key, entry)| (hashing.direction.fingerprint(&key), key, entry))
            .collect();
        keyed.sort_unstable();
        let buckets = keyed.len().div_ceil(BUCKET_SLOTS).max(2);
        let bits = usize::BITS - (buckets - 1).leading_zeros();
        let shift = 64 - bits;
        let mut index = KeyIndex {
            filter: PresenceFilter::new(keyed.len()),
            hashing,
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
            index.filter.insert(index.filter_hash(&key, fingerprint));
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

    /// Where the filter keeps the bit of `key`, whose fingerprint is `fingerprint`. Callers
    /// that know the block's fingerprint already compute the same with [`in_block`].
    pub(crate) fn filter_hash(&self, key: &[u8], fingerprint: u64) -> u64 {
        match self.hashing.block {
            None => fingerprint,
            Some(block_of) => in_block(
                self.hashing.direction.fingerprint(block_of(key)),
                fingerprint,
            ),
        }
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
        let fingerprint = self.hashing.direction.fingerprint(key);
        if !self.may_contain(self.filter_hash(key, fingerprint)) {
            return;
        }
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

    /// Stage 0, when the filter is asked on its own: asks for the filter line of a key whose
    /// [`KeyIndex::filter_hash`] is `filter_hash`.
    #[inline]
    pub(crate) fn prefetch_filter(&self, filter_hash: u64) {
        self.filter.prefetch(filter_hash);
    }

    /// Whether a key whose [`KeyIndex::filter_hash`] is `filter_hash` may be in the index
    /// (if not, it is not). The stages below assume a key that passed.
    #[inline]
    pub(crate) fn may_contain(&self, filter_hash: u64) -> bool {
        !self.slots.is_empty() && self.filter.may_contain(filter_hash)
    }

    /// Stage 1: asks for the directory entry of `fingerprint`.
    #[inline]
    pub(crate) fn prefetch_directory(&self, fingerprint: u64) {
        prefetch_at(&self.directory, (fingerprint >> self.shift) as usize);
    }

    /// Stage 2: the slot positions that may hold `fingerprint`; asks for those slots.
    #[inline]
    pub(crate) fn bucket(&self, fingerprint: u64) -> Range<u32> {
        if self.slots.is_empty() {
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
    use crate::fingerprint::fingerprint;

    fn build(keys: &[(&str, u32)]) -> KeyIndex {
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
                assert_eq!(find(&index, key), [*entry]);
            }
            assert_eq!(find(&index, "host-0/key-5000"), Vec::<u32>::new());
            assert_eq!(index.iter().count(), 5000);
        }
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
/// Most hashes a device reports match nothing, so a [`PresenceFilter`] on the low bits of the
/// same hash (the home uses the high bits) answers most searches for absent keys before any
/// slot is read.
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

/// Slots a search reads on average, for the prefetch.
const RUN_SLOTS: usize = 2;

impl<const N: usize, V: Copy> HashTable<N, V> {
    /// Builds the table from `(key, value)` pairs, in any order; equal keys keep all values.
    pub(crate) fn build(mut pairs: Vec<([u8; N], V)>) -> HashTable<N, V> {
        if pairs.is_empty() {
            return HashTable::default();
        }
        pairs.sort_unstable_by(|a, b| table_order(&a.0, &b.0));
        let capacity = (pairs.len() as u64 * 3).div_ceil(2);
        let mut table = HashTable {
            filter: PresenceFilter::new(pairs.len()),
            slots: Vec::new(),
            capacity,
            len: pairs.len(),
            repeats_keys: pairs.windows(2).any(|pair| pair[0].0 == pair[1].0),
        };
        // Keys pushed past the end need room: a few more slots than the capacity is plenty
        // for random keys, and the vector grows if not.
        let mut slots = vec_for_random_access(capacity as usize + 64);
        for (key, value) in pairs {
            table.filter.insert(spread(&key));
            let home = table.home(spread(&key));
            if slots.len() < home {
                slots.resize(home, None);
            }
            slots.push(Some((key, value)));
        }
        slots.push(None);
        table.slots = slots;
        table
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The home slot of a key whose [`spread`] is `spread`.
    #[inline]
    fn home(&self, spread: u64) -> usize {
        ((u128::from(spread) * u128::from(self.capacity)) >> 64) as usize
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
