//! The table of file hashes: fixed-size keys that are already uniformly random, each stored
//! with its value in one slot.

use super::filter::PresenceFilter;
use super::table::{home_slot, place_in_order, table_capacity};
use iocd_prefetch::prefetch_span;

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
