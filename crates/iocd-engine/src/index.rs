//! A compact, immutable map from byte-string keys to entry numbers, built once and searched
//! without allocation: keys sorted by a 64-bit fingerprint, with a directory on its top bits.
//!
//! Memory per key is the key bytes plus 16 bytes (fingerprint, entry number, key offset) plus
//! about 4 to 8 bytes of directory. A lookup reads one directory slot, then scans the few
//! fingerprints of that bucket and compares the key bytes of equal fingerprints, so a
//! fingerprint collision can cost time but never a wrong answer.

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

/// The immutable key index. Several entries may share one key; they are adjacent.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyIndex {
    fingerprints: Vec<u64>,
    entries: Vec<u32>,
    key_ends: Vec<u32>,
    key_bytes: Vec<u8>,
    directory: Vec<u32>,
    shift: u32,
}

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
        let bits = usize::BITS - (keyed.len() - 1).leading_zeros();
        let bits = bits.max(1);
        let shift = 64 - bits;
        let mut index = KeyIndex {
            fingerprints: Vec::with_capacity(keyed.len()),
            entries: Vec::with_capacity(keyed.len()),
            key_ends: Vec::with_capacity(keyed.len()),
            key_bytes: Vec::with_capacity(keyed.iter().map(|(_, k, _)| k.len()).sum()),
            directory: Vec::with_capacity((1usize << bits) + 1),
            shift,
        };
        for (position, (fingerprint, key, entry)) in keyed.into_iter().enumerate() {
            let bucket = (fingerprint >> shift) as usize;
            while index.directory.len() <= bucket {
                index.directory.push(position as u32);
            }
            index.fingerprints.push(fingerprint);
            index.entries.push(entry);
            index.key_bytes.extend_from_slice(&key);
            index.key_ends.push(index.key_bytes.len() as u32);
        }
        let total = index.fingerprints.len() as u32;
        while index.directory.len() <= (1usize << bits) {
            index.directory.push(total);
        }
        index
    }

    pub(crate) fn len(&self) -> usize {
        self.fingerprints.len()
    }

    fn key_at(&self, position: usize) -> &[u8] {
        let start = if position == 0 {
            0
        } else {
            self.key_ends[position - 1] as usize
        };
        &self.key_bytes[start..self.key_ends[position] as usize]
    }

    /// Calls `found` with every entry stored under exactly `key`.
    #[inline]
    pub(crate) fn find(&self, key: &[u8], mut found: impl FnMut(u32)) {
        if self.fingerprints.is_empty() {
            return;
        }
        let fingerprint = fingerprint(key);
        let bucket = (fingerprint >> self.shift) as usize;
        let start = self.directory[bucket] as usize;
        let end = self.directory[bucket + 1] as usize;
        for position in start..end {
            let candidate = self.fingerprints[position];
            if candidate > fingerprint {
                break;
            }
            if candidate == fingerprint && self.key_at(position) == key {
                found(self.entries[position]);
            }
        }
    }

    /// Every `(key, entry)` pair, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        (0..self.len()).map(|position| (self.key_at(position), self.entries[position]))
    }

    /// Bytes of heap memory the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.fingerprints.capacity() * 8
            + self.entries.capacity() * 4
            + self.key_ends.capacity() * 4
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
