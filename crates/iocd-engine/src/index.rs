//! The engine's immutable key indexes, built once and searched without allocation:
//! [`KeyIndex`] (byte-string keys sorted by a 64-bit fingerprint, with a directory on its top
//! bits) and [`HashTable`] (file hashes in an ordered open-addressing table, value in the slot).
//!
//! For a [`KeyIndex`], memory per key is the key bytes plus a 16-byte slot (fingerprint, entry number, key end)
//! plus one to two bytes of directory. A lookup reads one directory slot, then scans the few
//! fingerprints of that bucket and compares the key bytes of equal fingerprints, so a
//! fingerprint collision can cost time but never a wrong answer.

use iocd_prefetch::{prefetch_at, prefetch_span, vec_for_random_access};
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
        // The last eight bytes (all of a shorter key), overlapping the words before: no
        // variable-length copy, which would cost a call per key.
        let last = key[key.len().saturating_sub(8)..]
            .iter()
            .rev()
            .fold(0u64, |word, &b| (word << 8) | u64::from(b));
        hash = (hash ^ last).wrapping_mul(MULTIPLIER).rotate_left(31);
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
